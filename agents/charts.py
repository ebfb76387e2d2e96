"""An agent's usage over the last 30 days, and its bar chart drawn as server-side SVG.

Reads the per-key per-day counters (`apikeys.models.KeyUsage`) in one query; the chart is plain
geometry handed to the template (no JS chart library, no inline styles: CSP stays strict).
"""

import datetime as dt
from collections import defaultdict

from django.utils import timezone

from access.keyformat import TYPE_PREFIXES

DAYS = 30


def usage_summary(agent, *, days: int = DAYS, today: dt.date | None = None) -> dict:
    """`{"total", "by_key": [{"key_id", "prefix", "count"}], "daily": [(date, count)]}`.

    `daily` holds every day of the window, oldest first, zero when the agent was idle.
    """
    start, today = _window(days, today)
    rows = agent.usage.filter(date__gte=start, date__lte=today).values_list(
        "key_id", "key__public_id", "date", "count"
    )
    per_day = defaultdict(int)
    per_key = {}
    for key_id, public_id, day, count in rows:
        per_day[day] += count
        entry = per_key.setdefault(
            key_id, {"key_id": key_id, "prefix": TYPE_PREFIXES["agent"] + public_id, "count": 0}
        )
        entry["count"] += count
    daily = _every_day(start, days, per_day)
    by_key = sorted(per_key.values(), key=lambda e: (-e["count"], e["prefix"]))
    return {"total": sum(per_day.values()), "by_key": by_key, "daily": daily}


def key_usage(key, *, days: int = DAYS, today: dt.date | None = None) -> dict:
    """One key's `{"total", "daily": [(date, count)]}` over the window, like `usage_summary`."""
    start, today = _window(days, today)
    per_day = dict(key.usage.filter(date__gte=start, date__lte=today).values_list("date", "count"))
    return {"total": sum(per_day.values()), "daily": _every_day(start, days, per_day)}


def _window(days, today):
    today = today or timezone.now().date()
    return today - dt.timedelta(days=days - 1), today


def _every_day(start, days, per_day) -> list:
    """Every day of the window, oldest first, zero when idle."""
    return [
        (start + dt.timedelta(days=i), per_day.get(start + dt.timedelta(days=i), 0))
        for i in range(days)
    ]


def bar_chart(daily, *, width: int = 720, height: int = 180) -> dict:
    """Bars, axis and labels for `daily` [(date, count)], in SVG user units."""
    left, right, top, bottom = 40, 8, 12, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((count for _, count in daily), default=0)
    scale_max = max(peak, 1)
    slot = plot_w / max(len(daily), 1)
    bars = []
    for i, (day, count) in enumerate(daily):
        h = round(count / scale_max * plot_h, 1)
        if count and h < 1:
            h = 1.0
        bars.append(
            {
                "x": round(left + i * slot + slot * 0.15, 1),
                "y": round(top + plot_h - h, 1),
                "width": round(slot * 0.7, 1),
                "height": h,
                "date": day,
                "count": count,
            }
        )
    labels = [
        {"x": round(left + i * slot + slot / 2, 1), "text": day.strftime("%b %d")}
        for i, (day, _) in enumerate(daily)
        if (len(daily) - 1 - i) % 7 == 0  # weekly, counted back from today
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "top": top,
        "baseline": top + plot_h,
        "right_edge": width - right,
        "label_y": height - 6,
        "axis_label_x": left - 4,
        "peak_label_y": top + 4,
        "peak": peak,
        "bars": bars,
        "labels": labels,
        "total": sum(count for _, count in daily),
    }
