"""Housekeeping (runworker's scheduled jobs): expired token rows do not pile up."""

import datetime as dt

from django.utils import timezone

from oauth.models import AccessToken, RefreshToken, TokenFamily
from oauth.services import prune_tokens
from tests.oauth.test_refresh import use

DAY = dt.timedelta(days=1)


def counts():
    return AccessToken.objects.count(), RefreshToken.objects.count(), TokenFamily.objects.count()


def test_nothing_live_or_just_expired_is_pruned(issued):
    now = timezone.now()
    assert prune_tokens(now=now) == 0
    assert prune_tokens(now=now + dt.timedelta(hours=1) + DAY - dt.timedelta(minutes=1)) == 0
    assert counts() == (1, 1, 1)


def test_access_tokens_go_a_day_after_expiry_and_the_grant_when_nothing_is_left(issued):
    now = timezone.now()
    assert prune_tokens(now=now + dt.timedelta(hours=1) + DAY + dt.timedelta(seconds=1)) == 1
    assert counts() == (0, 1, 1)  # the refresh token (7 days) keeps its grant
    assert prune_tokens(now=now + 8 * DAY + dt.timedelta(seconds=1)) == 2
    assert counts() == (0, 0, 0)


def test_a_spent_refresh_token_is_kept_so_a_replay_is_still_caught(issued):
    fresh = use(issued["refresh_token"]).json()
    prune_tokens(now=timezone.now() + dt.timedelta(hours=1) + DAY + dt.timedelta(seconds=1))
    assert RefreshToken.objects.filter(used_at__isnull=False).count() == 1
    replay = use(issued["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert use(fresh["refresh_token"]).status_code == 400  # the family was revoked


def test_runworker_jobs_include_the_pruning(issued, monkeypatch):
    from django.core.management import call_command

    later = timezone.now() + 8 * DAY + dt.timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    call_command("runworker", "--once", "--only", "oauth")
    assert counts() == (0, 0, 0)
