"""Audit metadata for people: durations, lists, times and changes as text, never Python reprs."""

import datetime as dt
import re

DURATION_KEYS = {"gracePeriod", "expiresIn", "retryAfter", "dormantKeyDays"}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def label(key: str) -> str:
    """`gracePeriod` or `grace_period` → "grace period"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").lower()


def duration(seconds: int) -> str:
    """604800 → "7 days"; 5400 → "1 hour 30 minutes"; 0 → "none (at once)"."""
    if seconds <= 0:
        return "none (at once)"
    parts = []
    for size, name in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def value_text(value, key: str = "") -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key in DURATION_KEYS:
        return duration(value * 86400 if key == "dormantKeyDays" else value)
    if isinstance(value, str) and _ISO.match(value):
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC)
        return when.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, list):
        return ", ".join(value_text(v, key) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {value_text(v, k)}" for k, v in value.items())
    return str(value)


def describe(metadata: dict | None) -> list[tuple[str, str]]:
    """(label, text) pairs; a `changes` dict of [old, new] pairs reads "field: old → new"."""
    items = []
    for key, value in (metadata or {}).items():
        if value in (None, "", [], {}):
            continue
        if key == "changes" and isinstance(value, dict):
            for field, change in value.items():
                if isinstance(change, list) and len(change) == 2:
                    old, new = (value_text(v, field) for v in change)
                    items.append((label(field), f"{old} → {new}"))
                else:
                    items.append((label(field), value_text(change, field)))
            continue
        items.append((label(key), value_text(value, key)))
    return items
