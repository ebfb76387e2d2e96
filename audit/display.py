"""Audit metadata for people: the event table's one-line summary of an event's details.

Metadata stays plain JSON in the database and the API; only the portal renders it, so
`604800` under `gracePeriod` reads "7 days", a timestamp reads "2026-03-01 12:00 UTC",
`True` reads "yes" and a change reads "old → new" — never a Python repr.
"""

import re

from django.utils.dateparse import parse_datetime

# Keys whose whole-number values are a number of seconds.
DURATION_SUFFIXES = ("Period", "Seconds", "Ttl")
UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def label(key: str) -> str:
    """`gracePeriod` → "grace period", `rotatedFromIds` → "rotated from ids"."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", str(key)).replace("_", " ").lower()


def duration(seconds: int) -> str:
    """604800 → "7 days", 90000 → "1 day 1 hour", 0 → "none"."""
    if seconds <= 0:
        return "none"
    parts = []
    for name, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def value_text(value, key: str = "") -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key.endswith(DURATION_SUFFIXES):
        return duration(value)
    if isinstance(value, str):
        moment = parse_datetime(value) if "T" in value and len(value) >= 19 else None
        if moment is not None:
            suffix = " UTC" if moment.utcoffset() is not None else ""
            return moment.strftime("%Y-%m-%d %H:%M") + suffix
        return value
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v, key) for v in value)
    if isinstance(value, dict):
        return "; ".join(change_text(k, v) for k, v in value.items())
    return str(value)


def change_text(key: str, value) -> str:
    """One entry of a `changes` map: `[old, new]` reads "field: old → new"."""
    if isinstance(value, list) and len(value) == 2:
        old, new = (value_text(v, key) for v in value)
        return f"{label(key)}: {old} → {new}"
    return f"{label(key)}: {value_text(value, key)}"


def metadata_items(metadata) -> list[tuple[str, str]]:
    """(label, text) pairs for the event table: empty values left out."""
    return [
        (label(key), value_text(value, key))
        for key, value in (metadata or {}).items()
        if value not in (None, "", [], {})
    ]
