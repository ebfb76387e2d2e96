"""Times for people: `{{ value|when }}` renders one `<time>` for every time the portal shows.

The text is relative ("3 min ago", "in 7 days"), computed here so it reads right without
JavaScript; the exact UTC time is in `title` (hover) and `datetime`. static/js/times.js keeps the
text fresh and adds the time in the browser's own zone to the hover text.
"""

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

MINUTE, HOUR, DAY = 60, 3600, 86400


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def relative(value: dt.datetime, now: dt.datetime) -> str:
    """ "just now", "3 min ago", "in 5 hours", "in 7 days", or the date when months away.

    The same steps as times.js, so the text doesn't jump when the script takes over.
    """
    seconds = (value - now).total_seconds()
    span = abs(seconds)
    if span < 45:
        return "just now"
    if span < 90 * MINUTE:
        text = f"{max(1, round(span / MINUTE))} min"
    elif span < 36 * HOUR:
        text = _plural(round(span / HOUR), "hour")
    elif span < 45 * DAY:
        text = _plural(round(span / DAY), "day")
    else:
        return f"on {value.astimezone(dt.UTC):%Y-%m-%d}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def countdown(value: dt.datetime, now: dt.datetime) -> str:
    """Time left: "2d 4h left" from a day on, else "3h 5m 9s left" (as portal.js ticks it)."""
    left = int((value - now).total_seconds())
    if left <= 0:
        return "expired"
    days, rest = divmod(left, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, seconds = divmod(rest, MINUTE)
    if days:
        return f"{days}d {hours}h left"
    text = f"{hours}h " if hours else ""
    text += f"{minutes}m " if hours or minutes else ""
    return f"{text}{seconds}s left"


def utc_text(value: dt.datetime) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _iso(value: dt.datetime) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


@register.filter
def when(value, style: str = ""):
    """The one filter for every time the portal shows.

    `{{ t|when }}` → `<time datetime=… title="exact UTC" data-relative>3 min ago</time>`;
    `{{ t|when:"countdown" }}` → a live countdown in days and hours (`data-countdown`, kept
    ticking by portal.js). None → "never".
    """
    if not value:
        return format_html('<span class="muted">{}</span>', "never")
    now = timezone.now()
    if style == "countdown":
        return format_html(
            '<time datetime="{}" title="{}" data-countdown>{}</time>',
            _iso(value),
            utc_text(value),
            countdown(value, now),
        )
    return format_html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        _iso(value),
        utc_text(value),
        relative(value, now),
    )


@register.filter
def duration(seconds) -> str:
    """A length of time in its largest whole unit: 3600 → "1 hour", 900 → "15 minutes"."""
    seconds = int(seconds)
    for size, unit in ((DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")):
        if seconds >= size and seconds % size == 0:
            return _plural(seconds // size, unit)
    return _plural(seconds, "second")
