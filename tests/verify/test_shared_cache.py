"""With Redis as the cache: key rows served from process memory, validated by the tenant's
credential epoch, and one round trip to Redis per request (access.shared).

Against the real Redis, database 13 (this suite's own; emptied by each test). Skipped with a
reason when no Redis answers.
"""

import logging
import uuid

import environ
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access import shared
from agents import services as agent_services
from apikeys import services as key_services
from apikeys import usage
from apikeys.models import ApiKey
from benchmarks.inprocess import redis_round_trips
from tests.ratelimit.test_redis import _redis_answers
from tests.verify.conftest import SYSTEM

REDIS_URL = "redis://127.0.0.1:6379/13"
ME = "/t/acme-corp/api/v1/agents/me"


pytestmark = pytest.mark.skipif(
    not _redis_answers(REDIS_URL), reason=f"no Redis answers at {REDIS_URL}"
)


@pytest.fixture
def redis_cache(settings):
    import redis

    settings.CACHES = {"default": environ.Env().cache_url_config(REDIS_URL)}
    settings.USAGE_REDIS_URL = REDIS_URL
    settings.USAGE_REDIS_PREFIX = f"tessera:usage:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    shared.clear()
    yield client
    shared.clear()
    client.flushdb()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a change as a request would: its on-commit callbacks (the epoch bump) run before
    the test goes on, as they run before the change is answered."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def check(verify, agent_key, **extra):
    response = verify({"key": agent_key[1], "permission": "read:reports", **extra})
    assert response.status_code == 200, response.content
    return response.json()["code"]


def test_a_warm_verification_makes_one_round_trip_to_redis_and_no_query(
    redis_cache, verify, agent_key
):
    assert check(verify, agent_key) == "VALID"  # cold: reads the epoch, the rows, then counts
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
        assert check(verify, agent_key) == "VALID"
    assert (len(queries), len(trips)) == (0, 1), (queries.captured_queries, trips)


def test_a_warm_api_request_makes_one_round_trip_and_no_query(redis_cache, api):
    assert api.get(ME).status_code == 403
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
        response = api.get("/t/acme-corp/api/v1/agents/me")
    assert response.status_code == 403  # an admin key: counted, refused by kind, no query
    assert (len(queries), len(trips)) == (0, 1), (queries.captured_queries, trips)


def test_the_uses_and_the_budget_ride_the_round_trip(redis_cache, verify, agent_key):
    key = agent_key[0]
    ApiKey.objects.filter(pk=key.pk).update(rate_limit_per_minute=2)
    assert [check(verify, agent_key) for _ in range(3)] == ["VALID", "VALID", "RATE_LIMITED"]
    assert usage.pending() == 2 + 3  # two uses of the verified key, three of the caller's


CHANGES = {
    "revoke": lambda t, key, agent: key_services.revoke_key(t, SYSTEM, key),
    "delete": lambda t, key, agent: key_services.delete_key(t, SYSTEM, key),
    "deactivate its agent": lambda t, key, agent: agent_services.set_agent_active(
        t, SYSTEM, agent, False
    ),
    "narrow its IP list": lambda t, key, agent: key_services.update_key(
        t, SYSTEM, key, allowed_ips=["192.0.2.0/24"]
    ),
    "remove its role": lambda t, key, agent: agent_services.update_agent(
        t, SYSTEM, agent, roles=[]
    ),
}
AFTER = {
    "revoke": "REVOKED",
    "delete": "NOT_FOUND",
    "deactivate its agent": "DISABLED",
    "narrow its IP list": "IP_NOT_ALLOWED",
    "remove its role": "INSUFFICIENT_PERMISSIONS",
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_change_that_narrows_a_key_is_seen_by_the_next_request(
    redis_cache, committed, verify, tenant, agent, agent_key, change
):
    assert check(verify, agent_key, ip="10.1.2.3") == "VALID"
    assert check(verify, agent_key, ip="10.1.2.3") == "VALID"  # served from the row cache
    with committed():
        CHANGES[change](tenant, ApiKey.objects.get(pk=agent_key[0].pk), agent)
    assert check(verify, agent_key, ip="10.1.2.3") == AFTER[change]


def test_a_change_that_bumps_no_epoch_is_served_stale_until_the_rows_max_age(
    redis_cache, verify, agent_key, monkeypatch, settings
):
    """The control: without the epoch (a write behind the services' back) the cache would
    answer from the stale row; the max age bounds it."""
    assert check(verify, agent_key) == "VALID"
    ApiKey.objects.filter(pk=agent_key[0].pk).update(status=ApiKey.Status.REVOKED)
    assert check(verify, agent_key) == "VALID"
    clock = shared.time.monotonic() + settings.KEY_ROW_MAX_AGE + 1
    monkeypatch.setattr(shared.time, "monotonic", lambda: clock)
    assert check(verify, agent_key) == "REVOKED"


def test_expiry_is_checked_against_the_clock_on_every_use(
    redis_cache, verify, agent_key, monkeypatch
):
    import datetime as dt

    from django.utils import timezone

    expires = timezone.now() + dt.timedelta(hours=1)
    ApiKey.objects.filter(pk=agent_key[0].pk).update(expires_at=expires)
    shared.clear()
    assert check(verify, agent_key) == "VALID"
    later = expires + dt.timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert check(verify, agent_key) == "EXPIRED"


def test_a_revoke_between_the_epoch_read_and_the_sql_read_is_not_cached_under_its_epoch(
    redis_cache, committed, verify, tenant, agent_key, monkeypatch
):
    """The cache fill reads the epoch first: a revoke that lands between the two reads is seen
    by the SQL read, and the row is filed under the epoch from before the revoke."""
    before = redis_cache.get(shared.EPOCH.format("acme-corp"))

    def revoke_now():
        monkeypatch.setattr(shared, "_before_fill", None)
        with committed():
            key_services.revoke_key(tenant, SYSTEM, ApiKey.objects.get(pk=agent_key[0].pk))

    monkeypatch.setattr(shared, "_before_fill", revoke_now)
    assert check(verify, agent_key) == "REVOKED"
    after = redis_cache.get(shared.EPOCH.format("acme-corp"))
    assert after != before
    cached = shared._rows[("acme-corp", agent_key[0].public_id)]
    assert cached[1] == (before or b"0").decode()  # not under the revoke's epoch
    assert check(verify, agent_key) == "REVOKED"


def test_a_revoke_after_the_sql_read_is_seen_by_the_next_request(
    redis_cache, committed, verify, tenant, agent_key, monkeypatch
):
    """The other writer: the revoke commits after the SQL read but before the row is filed.
    The row is filed under the old epoch, which the revoke moved: the next request reads
    again."""
    from access import decorators

    original = decorators._fetch_with_access

    def read_then_revoke(ids):
        rows = original(ids)
        monkeypatch.setattr(decorators, "_fetch_with_access", original)
        with committed():
            key_services.revoke_key(tenant, SYSTEM, ApiKey.objects.get(pk=agent_key[0].pk))
        return rows

    monkeypatch.setattr(decorators, "_fetch_with_access", read_then_revoke)
    assert check(verify, agent_key) == "VALID"  # in flight before the revoke was answered
    assert check(verify, agent_key) == "REVOKED"


def test_a_bump_that_cannot_be_written_is_logged_as_an_error(redis_cache, caplog, monkeypatch):
    conn, _ = shared.client()

    def broken(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(conn, "incr", broken)
    with caplog.at_level(logging.ERROR, logger="tessera.auth"):
        shared.bump("acme-corp")
    assert any(r.levelno == logging.ERROR and "epoch" in r.getMessage() for r in caplog.records)


def test_without_redis_nothing_is_cached(verify, agent_key):
    assert check(verify, agent_key) == "VALID"
    with CaptureQueriesContext(connection) as queries:
        assert check(verify, agent_key) == "VALID"
    assert len(queries) == 1
    assert not shared._rows


def test_quotas_and_the_agent_wide_budget_ride_the_same_round_trip(
    redis_cache, verify, agent, agent_key
):
    """SPEC §15's counters (the key's quota, the agent's quota and minute budget) are counted in
    the request's one round trip too, and a refusal by any of them spends none of them."""
    ApiKey.objects.filter(pk=agent_key[0].pk).update(quota_limit=3, quota_period="day")
    type(agent).objects.filter(pk=agent.pk).update(
        quota_limit=100, quota_period="month", rate_limit_per_minute=100
    )
    assert check(verify, agent_key) == "VALID"
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
        assert check(verify, agent_key) == "VALID"
    assert (len(queries), len(trips)) == (0, 1), (queries.captured_queries, trips)
    assert [check(verify, agent_key) for _ in range(2)] == ["VALID", "QUOTA_EXCEEDED"]
    agent_quota = [k for k in redis_cache.keys("qa:*")]
    assert [int(redis_cache.get(k)) for k in agent_quota] == [3]  # the refusal was taken back


def test_each_request_gets_its_own_tenant_object_from_a_cached_row(redis_cache, verify, agent_key):
    """Django caches related objects on an instance: a tenant shared between requests would
    carry one request's reads (its policy, say) into every later one."""
    assert check(verify, agent_key) == "VALID"
    public_id = agent_key[0].public_id
    first, _ = shared.cached("acme-corp", [public_id])
    second, _ = shared.cached("acme-corp", [public_id])
    assert first[public_id].tenant is not second[public_id].tenant
    assert first[public_id].tenant.slug == second[public_id].tenant.slug == "acme-corp"


def test_agents_me_reuses_the_access_set_authentication_read(redis_cache, make_api, agent_key):
    """With Redis, /agents/me reads the agent, its roles and its keys (3 queries, none for the
    key, none for the grants): the access set comes from the authenticated row."""
    client = make_api(agent_key[1])
    first = client.get(ME)
    assert first.status_code == 200
    with CaptureQueriesContext(connection) as queries, redis_round_trips() as trips:
        again = client.get(ME)
    assert again.json()["keyPermissions"] == first.json()["keyPermissions"]
    assert "read:invoices" in again.json()["keyPermissions"]  # a live grant
    assert "read:payroll" not in again.json()["keyPermissions"]  # an expired one
    assert (len(queries), len(trips)) == (3, 1), [q["sql"][:60] for q in queries]


def test_agents_me_without_redis_reads_the_key_and_the_agent_with_its_grants(make_api, agent_key):
    client = make_api(agent_key[1])
    assert client.get(ME).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME).status_code == 200
    assert len(queries) == 5, [q["sql"][:60] for q in queries]
