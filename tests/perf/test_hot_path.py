"""The authentication hot path: one SELECT for a key, none for a malformed one, no writes in
steady state, and revocation that takes effect on the very next request."""

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from agents.models import Agent
from apikeys import keyformat, usage
from apikeys.models import ApiKey
from apikeys.services import deprecate_key, revoke_key
from audit.models import AuditEvent
from portal.auth import Actor, fetch_key
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
@pytest.mark.parametrize("kind", ["admin", "agent"])
def test_fast_lookup_builds_the_same_objects_as_the_orm(tenant, kind):
    agent = Agent.objects.create(tenant=tenant, name="bot", allowed_ips=["10.0.0.0/8"])
    key, secret = mint_admin_key(
        tenant, "k", expires_at=timezone.now() + dt.timedelta(days=1), scopes=["agents:read"]
    )
    if kind == "agent":
        from apikeys.services import mint_key

        key, secret = mint_key(tenant, SYSTEM, name="a", agent=agent)
    fast = fetch_key(key.public_id)
    orm = ApiKey.objects.select_related("tenant", "agent").get(public_id=key.public_id)
    pairs = [(fast, orm), (fast.tenant, orm.tenant)]
    if kind == "agent":
        pairs.append((fast.agent, orm.agent))
    else:
        assert fast.agent is None
    for a, b in pairs:
        values = {k: v for k, v in a.__dict__.items() if k != "_state"}
        assert values == {k: v for k, v in b.__dict__.items() if k != "_state"}
        assert a._state.adding is False and a._state.db == "default"
    assert fetch_key("nonexistent00") is None


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
        "from portal.auth import Actor\n"
        "key = ApiKey.objects.select_related('tenant').get(pk=sys.argv[1])\n"
        "revoke_key(key.tenant, Actor.system('other process'), key, reason='compromised')\n",
        url,
        str(key.pk),
    )
    assert client.get(PING).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("row_limit", [500, 2], ids=["joined", "separate-queries"])
def test_verification_loads_the_same_access_set_as_the_service(
    tenant, monkeypatch, django_assert_num_queries, row_limit
):
    """One joined query (roles × grants rows) or, past ROW_LIMIT rows, two more queries:
    either way exactly what agents.services.access_set() computes from the database."""
    from agents.models import Grant, Role
    from agents.services import access_set
    from apikeys import verify
    from apikeys.services import mint_key

    monkeypatch.setattr(verify, "ROW_LIMIT", row_limit)
    agent = Agent.objects.create(tenant=tenant, name="bot", permissions=["write:tickets"])
    for slug, perms in (("a", ["read:a", "read:b"]), ("b", ["read:c"])):
        agent.roles.add(Role.objects.create(tenant=tenant, slug=slug, name=slug, permissions=perms))
    Role.objects.create(tenant=tenant, slug="not-held", name="x", permissions=["read:x"])
    now = timezone.now()
    for perm, delta in (("read:live", 1), ("read:forever", None), ("read:gone", -1)):
        expires = now + dt.timedelta(days=delta) if delta else None
        Grant.objects.create(tenant=tenant, agent=agent, permission=perm, expires_at=expires)
    key, _ = mint_key(tenant, SYSTEM, name="k", agent=agent)
    expected = access_set(Agent.objects.get(pk=agent.pk))
    with django_assert_num_queries(1 if row_limit == 500 else 3):
        fetched = verify._fetch_with_access(key.public_id)
        got = verify._access_set(fetched.agent, getattr(fetched, "_access", None))
    assert got == expected
    assert "roles" not in fetched.agent._prefetched_objects_cache  # nothing left behind
    assert fetched.pk == key.pk and fetched.tenant == tenant


@pytest.mark.django_db
def test_joined_lookup_of_a_key_without_agent_or_access(tenant, admin_key):
    from apikeys import verify

    lonely = Agent.objects.create(tenant=tenant, name="lonely")
    from apikeys.services import mint_key

    agent_key, _ = mint_key(tenant, SYSTEM, name="k", agent=lonely)
    admin = verify._fetch_with_access(admin_key[0].public_id)
    assert admin.pk == admin_key[0].pk and admin.agent is None
    assert not hasattr(admin, "_access")
    fetched = verify._fetch_with_access(agent_key.public_id)
    assert fetched._access == ([], [])
    assert verify._fetch_with_access("nonexistent00") is None


@pytest.mark.django_db
def test_refused_key_is_logged_once_without_the_secret(make_api, admin_key, caplog):
    """portal.auth logs the refusal with the key's prefix; Django does not log it again."""
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


# --- how the compiled lookup is executed -----------------------------------------------------


def test_fast_instances_are_used_only_where_they_are_exactly_the_orms():
    from django.db.models.fetch_modes import FETCH_ONE
    from django.db.models.signals import post_init

    from portal.auth import _instance_builder
    from tenants.models import Tenant

    def attnames(model):
        return [f.attname for f in model._meta.concrete_fields]

    for model in (ApiKey, Tenant, Agent):
        assert _instance_builder(model, attnames(model), FETCH_ONE) is not None, model
    # A deferred column: Django's from_db must fill in DEFERRED markers.
    assert _instance_builder(ApiKey, attnames(ApiKey)[:-1], FETCH_ONE) is None

    def receiver(sender, instance, **kwargs):
        pass

    post_init.connect(receiver, sender=ApiKey)
    try:
        assert _instance_builder(ApiKey, attnames(ApiKey), FETCH_ONE) is None
    finally:
        post_init.disconnect(receiver, sender=ApiKey)


@pytest.mark.django_db
def test_sqlite_lookup_rewrites_its_placeholders_once(tenant, monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("the placeholder rewrite is SQLite's")
    from django.db.backends.sqlite3 import base as sqlite_base

    calls = []
    real = sqlite_base.FORMAT_QMARK_REGEX

    class Counting:
        def sub(self, *args):
            calls.append(args[1][:40])
            return real.sub(*args)

    monkeypatch.setattr(sqlite_base, "FORMAT_QMARK_REGEX", Counting())
    key, _ = mint_admin_key(tenant, "k")
    calls.clear()
    for public_id in (key.public_id, "nonexistent00", key.public_id):
        fetch_key(public_id)
    assert len(calls) <= 1  # the first lookup on this connection, if it was not made before
    assert fetch_key(key.public_id).pk == key.pk


@pytest.mark.django_db(transaction=True)
def test_lookup_cursor_is_reused_per_connection_and_renewed_after_a_reconnect(tenant):
    key, _ = mint_admin_key(tenant, "k")
    fetch_key(key.public_id)
    first = getattr(connection, "_tessera_hot_cursor", None)
    fetch_key(key.public_id)
    if first is None or first[2] is None:
        pytest.skip("this database uses Django's own cursor for the lookup")
    assert connection._tessera_hot_cursor[2] is first[2]
    connection.close()  # (Django keeps an in-memory SQLite database's connection open)
    assert fetch_key(key.public_id).pk == key.pk
    raw, _, cursor = connection._tessera_hot_cursor
    assert raw is connection.connection
    assert (cursor is first[2]) == (raw is first[0])
    revoke_key(tenant, SYSTEM, key)
    assert fetch_key(key.public_id).status == ApiKey.Status.REVOKED
