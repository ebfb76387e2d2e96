"""The authentication hot path: one SELECT for a key, none for a malformed one, no writes in
steady state, and revocation that takes effect on the very next request."""

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from access import keyformat
from access.actor import Actor
from access.keys import fetch_keys
from agents.models import Agent
from apikeys import usage
from apikeys.models import ApiKey
from apikeys.services import deprecate_key, revoke_key
from audit.models import AuditEvent
from tenants.models import Tenant
from tests.conftest import mint_admin_key
from tests.perf.conftest import run_python

# `bench/ping` is a view behind tenant_view that makes no query of its own (benchmarks/urls.py).
pytestmark = pytest.mark.urls("benchmarks.urls")
PING = "/t/acme-corp/api/v1/bench/ping"
SYSTEM = Actor.system("tests")
# Another process can't open the in-memory SQLite test database; PostgreSQL's it can.
requires_shared_database = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="another process needs the test database: PostgreSQL (CI's second pass)",
)


def is_read(query) -> bool:
    # psycopg's server-binding cursors are logged as "QUERY = '…' - PARAMS = (…)"
    return query["sql"].lstrip().removeprefix("QUERY = '").upper().startswith("SELECT")


@pytest.mark.django_db
def test_valid_key_costs_exactly_one_select(api, django_assert_num_queries):
    api.get(PING)
    with django_assert_num_queries(1) as ctx:
        assert api.get(PING).status_code == 200
    assert is_read(ctx.captured_queries[0])


@pytest.mark.django_db
def test_malformed_key_costs_no_query(make_api, admin_key, django_assert_num_queries):
    secret = admin_key[1]
    typo = secret[:-10] + ("a" if secret[-10] != "a" else "b") + secret[-9:]
    for raw in (typo, "lmk_short", "not a key at all", secret[:-1]):
        with django_assert_num_queries(0):
            assert make_api(raw).get(PING).status_code == 401


@pytest.mark.django_db
def test_unknown_and_deprecated_keys_cost_one_select(make_api, tenant, django_assert_num_queries):
    unknown = keyformat.generate("admin").full
    key, secret = mint_admin_key(tenant, "old")
    deprecate_key(tenant, SYSTEM, key)
    make_api(secret).get(PING)
    with django_assert_num_queries(1):
        assert make_api(unknown).get(PING).status_code == 401
    with django_assert_num_queries(1):
        response = make_api(secret).get(PING)
    assert response.status_code == 200
    assert "Deprecation" in response


@pytest.mark.django_db
def test_revoked_key_costs_one_select_once_its_rejection_is_audited(
    make_api, tenant, django_assert_num_queries
):
    """The first rejection per key and minute is audited at once, repeats are summed."""
    key, secret = mint_admin_key(tenant, "gone")
    revoke_key(tenant, SYSTEM, key)
    client = make_api(secret)
    assert client.get(PING).status_code == 401
    with django_assert_num_queries(1):
        assert client.get(PING).status_code == 401
    for _ in range(3):
        client.get(PING)
    events = AuditEvent.objects.filter(action="api_key.rejected", target_id=str(key.pk))
    assert events.count() == 1
    usage.flush()
    summary = events.order_by("-occurred_at").first()
    assert events.count() == 2
    assert summary.metadata["count"] == 4
    assert summary.metadata["reason"] == "revoked"
    assert summary.metadata["aggregated"] is True


@pytest.mark.django_db
def test_steady_state_requests_write_nothing(api, django_assert_max_num_queries):
    api.get(PING)
    with django_assert_max_num_queries(20) as ctx:
        for _ in range(20):
            assert api.get(PING).status_code == 200
    assert len(ctx.captured_queries) == 20
    assert all(is_read(q) for q in ctx.captured_queries)
    assert usage.pending() == 21


@pytest.mark.django_db
@pytest.mark.parametrize("with_access", [False, True], ids=["plain", "with-access"])
@pytest.mark.parametrize("kind", ["admin", "agent"])
def test_lookup_reads_the_same_values_as_the_orm(tenant, kind, with_access):
    """Every column of the record equals the ORM's view of the same row, on either database."""
    agent = Agent.objects.create(
        tenant=tenant,
        name="bot",
        allowed_ips=["10.0.0.0/8"],
        permissions=["read:x"],
        expires_at=timezone.now() + dt.timedelta(days=2),
        rate_limit_per_minute=7,
    )
    key, secret = mint_admin_key(
        tenant, "k", expires_at=timezone.now() + dt.timedelta(days=1), scopes=["agents:read"]
    )
    if kind == "agent":
        from apikeys.services import mint_key

        key, secret = mint_key(tenant, SYSTEM, name="a", agent=agent)
    deprecate_key(tenant, SYSTEM, key)
    row = fetch_keys([key.public_id, "nonexistent00"], with_access=with_access)[key.public_id]
    orm = ApiKey.objects.select_related("tenant", "agent").get(public_id=key.public_id)
    for name in row.__dataclass_fields__:
        if name not in ("tenant", "agent", "access"):
            assert getattr(row, name) == getattr(orm, name), name
    assert (row.tenant_id, row.agent_id, row.prefix) == (orm.tenant_id, orm.agent_id, orm.prefix)
    tenant_values = {f.attname: getattr(orm.tenant, f.attname) for f in Tenant._meta.fields}
    assert {n: getattr(row.tenant, n) for n in tenant_values} == tenant_values
    assert row.tenant._state.adding is False and row.tenant._state.db == "default"
    if kind == "agent":
        for name in row.agent.__dataclass_fields__:
            assert getattr(row.agent, name) == getattr(orm.agent, name), name
    else:
        assert row.agent is None
    assert (row.access is not None) == with_access
    assert fetch_keys(["nonexistent00"]) == {}


@pytest.mark.django_db
def test_lookup_is_one_plain_select_that_logs_and_counts(tenant, django_assert_num_queries):
    key, _ = mint_admin_key(tenant, "k")
    with django_assert_num_queries(1) as ctx:
        assert set(fetch_keys([key.public_id, "nonexistent00"])) == {key.public_id}
    assert is_read(ctx.captured_queries[0])
    assert "apikeys_apikey" in ctx.captured_queries[0]["sql"]


# --- revocation is immediate ------------------------------------------------------------


def _revoke(key):
    ApiKey.objects.filter(pk=key.pk).update(status="revoked", revoked_at=timezone.now())


def _delete(key):
    ApiKey.objects.filter(pk=key.pk).delete()


def _expire(key):
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))


def _deactivate_agent(key):
    Agent.objects.filter(pk=key.agent_id).update(is_active=False)


def _expire_agent(key):
    Agent.objects.filter(pk=key.agent_id).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


CHANGES = [_revoke, _delete, _expire, _deactivate_agent, _expire_agent]


@pytest.mark.django_db
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_key_stops_working_on_the_very_next_request(make_api, tenant, change):
    """Changed behind the application's back (a bare UPDATE, no signal): nothing is cached."""
    from apikeys.services import mint_key

    agent = Agent.objects.create(tenant=tenant, name="bot")
    key, secret = mint_key(tenant, SYSTEM, name="runtime", agent=agent)
    client = make_api(secret)
    verifier = make_api(mint_admin_key(tenant, "verifier")[1])
    assert client.get("/t/acme-corp/api/v1/agents/me").status_code == 200
    verify = "/t/acme-corp/api/v1/keys/verify"
    assert verifier.post(verify, {"key": secret}).json()["valid"] is True
    change(key)
    assert client.get("/t/acme-corp/api/v1/agents/me").status_code == 401
    assert verifier.post(verify, {"key": secret}).json()["valid"] is False


@pytest.mark.django_db(transaction=True)
def test_key_revoked_from_another_connection_is_refused_at_once(make_api, tenant):
    """Another thread, with its own database connection, revokes the key between requests."""
    key, secret = mint_admin_key(tenant, "shared")
    client = make_api(secret)
    assert client.get(PING).status_code == 200

    def elsewhere():
        try:
            revoke_key(tenant, SYSTEM, key, reason="compromised")
        finally:
            connections.close_all()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert client.get(PING).status_code == 401


@requires_shared_database
@pytest.mark.django_db(transaction=True)
def test_key_revoked_by_another_process_is_refused_at_once(make_api, tenant):
    """`manage.py shell` in a separate process revokes the key this process keeps using."""
    key, secret = mint_admin_key(tenant, "shared")
    client = make_api(secret)
    for _ in range(3):
        assert client.get(PING).status_code == 200
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    run_python(
        "import django, sys; django.setup()\n"
        "from apikeys.models import ApiKey\n"
        "from apikeys.services import revoke_key\n"
        "from access.actor import Actor\n"
        "key = ApiKey.objects.select_related('tenant').get(pk=sys.argv[1])\n"
        "revoke_key(key.tenant, Actor.system('other process'), key, reason='compromised')\n",
        url,
        str(key.pk),
    )
    assert client.get(PING).status_code == 401


@pytest.mark.django_db
def test_verification_reads_the_same_access_set_as_the_service(tenant, django_assert_num_queries):
    """Roles, direct permissions and unexpired grants aggregated in the lookup's one statement
    give exactly the permissions access.rules.access_set() computes with the ORM."""
    from access.rules import access_set, permissions_of
    from agents.models import Grant, Role
    from apikeys.services import mint_key

    agent = Agent.objects.create(tenant=tenant, name="bot", permissions=["write:tickets"])
    for slug, perms in (("a", ["read:a", "read:b"]), ("b", ["read:c"]), ("none", [])):
        agent.roles.add(Role.objects.create(tenant=tenant, slug=slug, name=slug, permissions=perms))
    Role.objects.create(tenant=tenant, slug="not-held", name="x", permissions=["read:x"])
    now = timezone.now()
    for perm, delta in (("read:live", 1), ("read:forever", None), ("read:gone", -1)):
        expires = now + dt.timedelta(days=delta) if delta else None
        Grant.objects.create(tenant=tenant, agent=agent, permission=perm, expires_at=expires)
    Grant.objects.create(
        tenant=tenant,
        agent=Agent.objects.create(tenant=tenant, name="other"),
        permission="read:theirs",
    )
    key, _ = mint_key(tenant, SYSTEM, name="k", agent=agent)
    expected = access_set(Agent.objects.get(pk=agent.pk), now)
    with django_assert_num_queries(1):
        row = fetch_keys([key.public_id], with_access=True)[key.public_id]
    assert sorted(permissions_of(row, now)) == sorted(e["permission"] for e in expected)
    later = now + dt.timedelta(days=2)  # the live grant has expired by then: filtered at read
    expected_later = access_set(Agent.objects.get(pk=agent.pk), later)
    assert sorted(permissions_of(row, later)) == sorted(e["permission"] for e in expected_later)
    assert "read:live" not in permissions_of(row, later)


@pytest.mark.django_db
def test_lookup_with_access_of_a_key_without_agent_or_access(tenant, admin_key):
    from access.rules import permissions_of
    from apikeys.services import mint_key

    lonely = Agent.objects.create(tenant=tenant, name="lonely")
    agent_key, _ = mint_key(tenant, SYSTEM, name="k", agent=lonely)
    rows = fetch_keys([admin_key[0].public_id, agent_key.public_id], with_access=True)
    admin = rows[admin_key[0].public_id]
    assert admin.agent is None and admin.access == ([], [])
    assert permissions_of(rows[agent_key.public_id]) == []


@pytest.mark.django_db
def test_verify_is_one_query_for_the_caller_and_the_verified_key(
    make_api, tenant, admin_key, django_assert_num_queries
):
    from agents.models import Role
    from apikeys.services import mint_key

    agent = Agent.objects.create(tenant=tenant, name="bot")
    agent.roles.add(Role.objects.create(tenant=tenant, slug="r", name="r", permissions=["read:r"]))
    _, secret = mint_key(tenant, SYSTEM, name="k", agent=agent)
    client = make_api(admin_key[1])
    body = {"key": secret, "permission": "read:r", "ip": "10.1.2.3"}
    client.post("/t/acme-corp/api/v1/keys/verify", body)
    with django_assert_num_queries(1) as ctx:
        answer = client.post("/t/acme-corp/api/v1/keys/verify", body).json()
    assert answer["code"] == "VALID" and answer["permissions"] == ["read:r"]
    assert is_read(ctx.captured_queries[0])
    for bad in ({"key": "lmk_short"}, {"key": 5}):  # no key to fetch, or a 400: the caller's only
        with django_assert_num_queries(1):
            client.post("/t/acme-corp/api/v1/keys/verify", bad)


@pytest.mark.django_db
def test_refused_key_is_logged_once_without_the_secret(make_api, admin_key, caplog):
    """access logs the refusal with the key's prefix; Django does not log it again."""
    import logging

    secret = admin_key[1]
    typo = secret[:-1] + ("a" if secret[-1] != "a" else "b")
    with caplog.at_level(logging.INFO):
        response = make_api(typo).get(PING)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert [r.name for r in caplog.records] == ["tessera.auth"]
    assert secret[20:] not in caplog.text
