"""Small helpers shared by every app's explicit serializers."""

import datetime as dt


def ts(value):
    """ISO 8601 UTC with `Z` (millisecond precision), or None."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def uid(value):
    return str(value) if value is not None else None
