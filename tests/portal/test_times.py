"""Times for people: one filter renders every time as relative text with the exact UTC time on
hover; countdowns read in days and hours. Pinned clocks, no wall-clock dependence."""

import datetime as dt

import pytest
from django.template import Context, Template

from portal.templatetags import times

NOW = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "delta, text",
    [
        (dt.timedelta(seconds=-10), "just now"),
        (dt.timedelta(minutes=-3), "3 min ago"),
        (dt.timedelta(minutes=20), "in 20 min"),
        (dt.timedelta(hours=-5), "5 hours ago"),
        (dt.timedelta(hours=1, minutes=40), "in 2 hours"),
        (dt.timedelta(days=7), "in 7 days"),
        (dt.timedelta(days=-1, hours=-13), "2 days ago"),
        (dt.timedelta(days=-200), "on 2026-05-13"),
    ],
)
def test_relative_text(delta, text):
    assert times.relative(NOW + delta, NOW) == text


@pytest.mark.parametrize(
    "delta, text",
    [
        (dt.timedelta(days=3, hours=4, minutes=59), "3d 4h left"),
        (dt.timedelta(hours=5, minutes=6, seconds=7), "5h 6m 7s left"),
        (dt.timedelta(seconds=42), "42s left"),
        (dt.timedelta(seconds=-1), "expired"),
    ],
)
def test_countdown_in_days_and_hours(delta, text):
    assert times.countdown(NOW + delta, NOW) == text


def render(source, **context):
    return Template("{% load times %}" + source).render(Context(context))


def test_the_filter_renders_a_time_with_the_exact_utc_on_hover(monkeypatch):
    monkeypatch.setattr(times.timezone, "now", lambda: NOW)
    html = render("{{ t|when }}", t=NOW - dt.timedelta(minutes=3))
    assert html == (
        '<time datetime="2026-11-29T11:57:00Z" title="2026-11-29 11:57:00 UTC" '
        "data-relative>3 min ago</time>"
    )
    html = render('{{ t|when:"countdown" }}', t=NOW + dt.timedelta(days=2, hours=3))
    assert "data-countdown" in html and ">2d 3h left</time>" in html
    assert render("{{ t|when }}", t=None) == '<span class="muted">never</span>'


def test_times_js_is_loaded_as_a_file_not_inline(client, db):
    html = client.get("/login").content.decode()
    assert '<script src="/static/js/times.js" defer></script>' in html
