"""Quotas and the agent-wide minute budget (SPEC §6b, §15), against the local-memory cache with
the limiter's clock pinned (`tests/conftest.py` pins it mid-minute; these tests move it)."""

import datetime as dt

import pytest

from access import ratelimit
from apikeys.models import ApiKey
from tests.access.conftest import call
from tests.guardrails.conftest import ME, me, verify

pytestmark = pytest.mark.django_db

# 2026-03-31 23:59:30 UTC: half a minute before both the day and the month end.
LATE = dt.datetime(2026, 3, 31, 23, 59, 30, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def at(monkeypatch):
    """Pin the limiter's clock to a UNIX time."""

    def pin(moment):
        monkeypatch.setattr(ratelimit, "_clock", lambda: moment)

    return pin


def get_me(secret):
    return call("get", ME, credential=secret)


def set_quota(admin_call, path, limit, period="day"):
    return admin_call("patch", path, {"quota": {"limit": limit, "period": period}})


def test_past_a_key_quota_the_answer_is_429_until_the_day_ends(bot, admin_call, at):
    at(LATE)
    set_quota(admin_call, f"api-keys/{bot['keys'][0]['id']}", 2)
    assert [get_me(bot["apiKey"]).status_code for _ in range(2)] == [200, 200]
    refused = get_me(bot["apiKey"])
    assert (refused.status_code, refused.json()["error"]) == (429, "quota_exceeded")
    assert refused["Retry-After"] == "30"
    at(LATE + 30)  # a new UTC day
    assert get_me(bot["apiKey"]).status_code == 200


def test_a_refused_use_spends_nothing(bot, admin_call, at):
    at(LATE)
    key_id = bot["keys"][0]["id"]
    set_quota(admin_call, f"api-keys/{key_id}", 1)
    assert get_me(bot["apiKey"]).status_code == 200
    assert {get_me(bot["apiKey"]).status_code for _ in range(5)} == {429}
    key = ApiKey.objects.get(pk=key_id)
    assert ratelimit.quota_status(key).used == 1


def test_the_agents_quota_is_shared_by_all_its_keys(bot, admin_call):
    set_quota(admin_call, f"agents/{bot['id']}", 3, "month")
    other = admin_call("post", f"agents/{bot['id']}/keys", {"name": "second"})["apiKey"]
    statuses = [get_me(secret).status_code for secret in [bot["apiKey"], other] * 3]
    assert sorted(statuses) == [200, 200, 200, 429, 429, 429]


def test_agents_me_shows_the_agents_quota_and_its_use(bot, admin_call, at):
    at(LATE)
    set_quota(admin_call, f"agents/{bot['id']}", 1000, "month")
    get_me(bot["apiKey"])
    assert me(bot["apiKey"])["quota"] == {
        "limit": 1000,
        "period": "month",
        "used": 2,  # this request counts too
        "resetsAt": "2026-04-01T00:00:00Z",
    }
    admin_call("patch", f"agents/{bot['id']}", {"quota": None})
    assert me(bot["apiKey"])["quota"] is None


def test_verify_answers_quota_exceeded_and_counts_a_use(api, bot, admin_call):
    set_quota(admin_call, f"api-keys/{bot['keys'][0]['id']}", 1)
    assert verify(api, bot["apiKey"])["code"] == "VALID"
    answer = verify(api, bot["apiKey"])
    assert (answer["valid"], answer["code"]) == (False, "QUOTA_EXCEEDED")
    assert get_me(bot["apiKey"]).json()["error"] == "quota_exceeded"


def test_a_rate_limited_request_does_not_spend_the_quota(bot, admin_call):
    key_id = bot["keys"][0]["id"]
    admin_call("patch", f"api-keys/{key_id}", {"rateLimitPerMinute": 1})
    set_quota(admin_call, f"api-keys/{key_id}", 5)
    assert [get_me(bot["apiKey"]).status_code for _ in range(3)] == [200, 429, 429]
    assert ratelimit.quota_status(ApiKey.objects.get(pk=key_id)).used == 1


def test_the_agents_minute_budget_is_shared_with_a_keys_own_on_top(bot, admin_call):
    admin_call("patch", f"agents/{bot['id']}", {"rateLimitPerMinute": 3})
    other = admin_call("post", f"agents/{bot['id']}/keys", {"name": "second"})["apiKey"]
    statuses = [get_me(secret).status_code for secret in [bot["apiKey"], other] * 2]
    assert statuses == [200, 200, 200, 429]
    # A key's own limit applies on top of the agent's budget.
    third = admin_call(
        "post", f"agents/{bot['id']}/keys", {"name": "third", "rateLimitPerMinute": 1}
    )
    assert get_me(third["apiKey"]).status_code == 429  # the agent's budget is spent


def test_a_keys_own_limit_applies_within_the_agents_budget(bot, admin_call):
    admin_call("patch", f"agents/{bot['id']}", {"rateLimitPerMinute": 10})
    small = admin_call(
        "post", f"agents/{bot['id']}/keys", {"name": "small", "rateLimitPerMinute": 1}
    )
    assert [get_me(small["apiKey"]).status_code for _ in range(2)] == [200, 429]
    assert get_me(bot["apiKey"]).status_code == 200


def test_an_admin_key_can_have_a_quota(api, admin_key, admin_call):
    # The PATCH that sets it is counted before the key had a quota.
    set_quota(admin_call, f"api-keys/{admin_key[0].pk}", 3)
    statuses = [api.get("/t/acme-corp/api/v1/admin/roles").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize(
    "quota",
    [
        {"limit": 0, "period": "day"},
        {"limit": 5, "period": "week"},
        {"limit": "5", "period": "day"},
        {"limit": 5},
        {"limit": 5, "period": "day", "extra": 1},
        [5, "day"],
    ],
)
def test_a_malformed_quota_is_refused(api, bot, quota):
    response = api.patch(f"/t/acme-corp/api/v1/admin/agents/{bot['id']}", {"quota": quota})
    assert response.status_code == 400
    assert "quota" in response.json()["details"]


def test_period_bounds_are_utc_calendar_days_and_months():
    december = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC).timestamp()
    assert ratelimit.period_bounds("day", december) == (
        "20261231",
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert ratelimit.period_bounds("month", december) == (
        "202612",
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert ratelimit.period_bounds("month", LATE)[1] == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


class CountingCache:
    """Counts the calls that reach the counter store."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        method = getattr(self.real, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


def test_a_key_without_a_quota_costs_no_extra_counter_work(bot, admin_call, monkeypatch):
    key = ApiKey.objects.get(pk=bot["keys"][0]["id"])
    counting = CountingCache(ratelimit.cache)
    monkeypatch.setattr(ratelimit, "cache", counting)
    row = type("Row", (), {})()  # what the limiter reads of a key row
    row.public_id, row.rate_limit_per_minute, row.agent_id, row.quota_limit = (
        key.public_id,
        None,
        None,
        None,
    )
    ratelimit.admit(row)
    plain = list(counting.calls)
    counting.calls.clear()
    row.quota_limit, row.quota_period = 5, "day"
    ratelimit.admit(row)
    assert len(counting.calls) == len(plain) + 1  # one more counter: the quota's
