"""The tamper-evident audit chain (SPEC §13): each event carries the hash of the tenant's previous
event and of its own canonical content; `verifyaudit` and `GET /admin/audit-logs/verify` name
the first event where an edit, a deletion or a reordering breaks it."""

import datetime as dt
import hashlib
import importlib
import itertools
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory
from django.utils import timezone

from access.actor import Actor
from audit import chain
from audit.models import AppendOnlyError, AuditEvent
from audit.services import record
from tenants import services as tenant_services
from tenants.models import Membership, Tenant, User
from tenants.services import signin
from tests.apikeys.test_concurrency import race
from tests.conftest import mint_admin_key, requires_postgres
from tests.perf.conftest import run_python

VERIFY = "/t/acme-corp/api/v1/admin/audit-logs/verify"
TABLE = AuditEvent._meta.db_table
ACTOR = Actor("user", "11111111-1111-1111-1111-111111111111", "alice@acme.test", ip="2001:DB8::1")


def add_events(tenant, n, *, action="agent.updated"):
    return [record(tenant, ACTOR, action, metadata={"n": i, "name": "Zoë"}) for i in range(n)]


def sql(statement, *params):
    """Run raw SQL as someone with write access to the database would, past the model's guards."""
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=connection.ops.quote_name(TABLE)), params)


def db_id(event):
    return AuditEvent._meta.pk.get_db_prep_value(event.pk, connection)


def recomputed(tenant, served: dict) -> str:
    """The hash, computed from the served JSON alone as the README tells an auditor to."""
    content = {k: v for k, v in served.items() if k not in ("prevHash", "hash")}
    content["tenant"] = tenant.slug
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((served["prevHash"] + text).encode("utf-8")).hexdigest()


def verify_command(slug=None):
    """(stdout lines as JSON, returncode) of `manage.py verifyaudit [slug]`."""
    lines, code = [], 0

    class Out:
        def write(self, text):
            lines.extend(json.loads(line) for line in text.splitlines() if line.strip())

        def flush(self):
            pass

    try:
        call_command("verifyaudit", *([slug] if slug else []), stdout=Out())
    except CommandError as exc:
        code = exc.returncode
    return lines, code


# --- the chain as recorded -----------------------------------------------------------------


@pytest.mark.django_db
def test_each_event_links_to_the_previous_one_and_hashes_its_served_json(api, tenant):
    add_events(tenant, 3)
    served = api.get("/t/acme-corp/api/v1/admin/audit-logs").json()["data"][::-1]
    # The API client's own key was minted first: the chain's start.
    assert served[0]["prevHash"] == chain.GENESIS == "0" * 64
    for before, event in zip(served, served[1:], strict=False):
        assert event["prevHash"] == before["hash"]
    for event in served:
        assert event["hash"] == recomputed(tenant, event)
    assert list(tenant.audit_events.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3, 4]


@pytest.mark.django_db
def test_an_ipv6_address_is_hashed_as_the_database_gives_it_back(tenant):
    event = add_events(tenant, 1)[0]
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.ip == "2001:db8::1"
    assert chain.verify(tenant).ok


@pytest.mark.django_db
def test_events_are_still_append_only_and_never_bulk_created(tenant):
    event = add_events(tenant, 1)[0]
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(hash="0" * 64)
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(tenant=tenant, action="x", actor_type="user")])


@pytest.mark.django_db
def test_another_tenants_chain_is_independent(tenant, other_tenant):
    for _ in range(3):
        add_events(tenant, 1)
        add_events(other_tenant, 1)
    ours = list(tenant.audit_events.order_by("seq"))
    theirs = list(other_tenant.audit_events.order_by("seq"))
    assert ours[0].prev_hash == theirs[0].prev_hash == chain.GENESIS
    assert [e.seq for e in theirs] == [1, 2, 3]
    assert {e.hash for e in ours}.isdisjoint(e.prev_hash for e in theirs)
    sql("UPDATE {table} SET action = 'agent.deleted' WHERE id = %s", db_id(theirs[1]))
    assert chain.verify(tenant).as_json() == {"ok": True, "events": 3}
    assert chain.verify(other_tenant).broken_at == str(theirs[1].pk)


@pytest.mark.django_db
def test_recording_an_event_costs_one_query_for_the_head_and_a_lock_on_postgresql(
    tenant, django_assert_num_queries
):
    add_events(tenant, 1)
    # head read + event insert (+ the advisory lock on PostgreSQL); the webhook outbox's
    # subscriber lookup is the rest.
    baseline = 3 if connection.vendor == "postgresql" else 2
    with transaction.atomic(), django_assert_num_queries(baseline + 1):
        add_events(tenant, 1)


@pytest.mark.django_db
def test_a_users_events_in_several_tenants_are_chained_in_one_tenant_order(monkeypatch):
    """Each append holds its tenant's chain until commit: two logins locking two chains in
    opposite orders would deadlock (on PostgreSQL), so every user's go in tenant id order."""
    tenants = [Tenant.objects.create(slug=f"t{i}", name=f"T{i}") for i in range(4)]
    user = User.objects.create_user("many@acme.test", "correct horse battery staple")
    for tenant in sorted(tenants, key=lambda t: t.pk, reverse=True):  # joined in reverse
        Membership.objects.create(tenant=tenant, user=user, role="viewer")
    locked = []

    def recording(tenant, *args, **kwargs):
        locked.append(tenant.pk)
        return record(tenant, *args, **kwargs)

    monkeypatch.setattr(signin, "record", recording)
    tenant_services.log_out(RequestFactory().get("/"), user)
    assert locked == sorted(t.pk for t in tenants)


# --- verification --------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_intact_chain_verifies_through_the_endpoint_and_the_command(api, tenant):
    add_events(tenant, 4)
    response = api.get(VERIFY)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "events": 5}  # with the API key's own mint
    assert verify_command("acme-corp") == ([{"tenant": "acme-corp", "ok": True, "events": 5}], 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", "agent.deleted"),
        ("actor_name", "mallory@acme.test"),
        ("metadata", {"n": 99, "name": "Zoë"}),
        ("occurred_at", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        ("action", "agent.updated"),  # the value it had: no break, the test's control
    ],
)
def test_a_row_edited_with_sql_is_named_by_the_endpoint_and_the_command(api, tenant, column, value):
    events = add_events(tenant, 5)
    edited = events[2]
    prepared = AuditEvent._meta.get_field(column).get_db_prep_save(value, connection)
    sql(f"UPDATE {{table}} SET {column} = %s WHERE id = %s", prepared, db_id(edited))
    body, (lines, code) = api.get(VERIFY).json(), verify_command("acme-corp")
    if value == edited.action:
        assert body == {"ok": True, "events": 6} and code == 0
        return
    assert body["ok"] is False
    assert body["brokenAt"] == str(edited.pk)
    assert body["reason"] == "the event's content does not match its hash: it was changed"
    assert lines == [{"tenant": "acme-corp", **body}]
    assert code == 1


@pytest.mark.django_db
def test_a_row_deleted_with_sql_is_named_at_the_event_after_it(api, tenant):
    events = add_events(tenant, 5)
    sql("DELETE FROM {table} WHERE id = %s", db_id(events[2]))
    body = api.get(VERIFY).json()
    assert body == {
        "ok": False,
        "brokenAt": str(events[3].pk),
        "reason": "its position 5 does not follow 3: an event before it was deleted or moved",
    }
    lines, code = verify_command("acme-corp")
    assert lines == [{"tenant": "acme-corp", **body}] and code == 1


@pytest.mark.django_db
def test_a_deletion_hidden_by_renumbering_is_still_found_by_the_hashes(tenant):
    events = add_events(tenant, 4)
    sql("DELETE FROM {table} WHERE id = %s", db_id(events[1]))
    for later in events[2:]:
        sql("UPDATE {table} SET seq = seq - 1 WHERE id = %s", db_id(later))
    verdict = chain.verify(tenant)
    assert verdict.broken_at == str(events[2].pk)
    assert verdict.reason.startswith("prevHash is not the hash of the event before it")


@pytest.mark.django_db
def test_two_events_swapped_are_named(tenant):
    events = add_events(tenant, 4)
    first, second = events[1], events[2]
    sql("UPDATE {table} SET seq = 1000 WHERE id = %s", db_id(first))
    sql("UPDATE {table} SET seq = %s WHERE id = %s", first.seq, db_id(second))
    sql("UPDATE {table} SET seq = %s WHERE id = %s", second.seq, db_id(first))
    assert chain.verify(tenant).broken_at == str(second.pk)


@pytest.mark.django_db
def test_an_event_inserted_with_sql_is_named(tenant):
    events = add_events(tenant, 3)
    forged = AuditEvent(
        tenant=tenant, action="member.added", actor_type="user", seq=4, prev_hash="f" * 64
    )
    forged.hash = chain.digest(forged.prev_hash, forged, tenant.slug)
    columns = ["id", "tenant_id", "occurred_at", "action", "actor_type", "seq", "prev_hash", "hash"]
    values = [
        f.get_db_prep_save(getattr(forged, f.attname), connection)
        for f in (AuditEvent._meta.get_field(c.removesuffix("_id") or c) for c in columns)
    ]
    for name in ("actor_id", "actor_name", "target_type", "target_id", "target_name"):
        columns.append(name)
        values.append("")
    columns += ["user_agent", "metadata"]
    values += ["", "{}"]
    sql(
        f"INSERT INTO {{table}} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
        *values,
    )
    verdict = chain.verify(tenant)
    assert verdict.broken_at == str(forged.pk) != str(events[-1].pk)
    assert "deleted, inserted or reordered" in verdict.reason


@pytest.mark.django_db
def test_verification_streams_in_a_fixed_number_of_queries(tenant, django_assert_max_num_queries):
    add_events(tenant, 12)
    # Chunks of 5: a per-event query (the tenant's slug, say) would make it 12 and more.
    with django_assert_max_num_queries(4):
        assert chain.verify(tenant, chunk_size=5).as_json() == {"ok": True, "events": 12}


@pytest.mark.django_db
def test_the_command_checks_every_tenant_and_fails_when_one_is_broken(tenant, other_tenant):
    add_events(tenant, 2)
    broken = add_events(other_tenant, 2)[1]
    sql("UPDATE {table} SET actor_name = 'x' WHERE id = %s", db_id(broken))
    lines, code = verify_command()
    assert lines[0] == {"tenant": "acme-corp", "ok": True, "events": 2}
    assert lines[1]["tenant"] == "globex" and lines[1]["brokenAt"] == str(broken.pk)
    assert code == 1


@pytest.mark.django_db
def test_the_command_refuses_an_unknown_tenant(tenant):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("verifyaudit", "nope")


# --- who may ask ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_verify_needs_the_audit_read_scope(make_api, tenant):
    _, without = mint_admin_key(tenant, name="agents-only", scopes=["agents:read"])
    _, with_scope = mint_admin_key(tenant, name="auditor", scopes=["audit:read"])
    refused = make_api(without).get(VERIFY)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert make_api(with_scope).get(VERIFY).json() == {"ok": True, "events": 2}


@pytest.mark.django_db
def test_verify_answers_an_admin_session_in_json(admin_client, tenant):
    response = admin_client.get(VERIFY)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["ok"] is True


@pytest.mark.django_db
def test_verify_is_for_admins_not_viewers(viewer_client):
    assert viewer_client.get(VERIFY).status_code == 403


@pytest.mark.django_db
def test_verify_of_another_tenant_is_401_with_its_key_and_404_to_its_members(
    make_api, other_tenant, outsider_client, tenant
):
    _, secret = mint_admin_key(other_tenant)
    assert make_api(secret).get(VERIFY).status_code == 401
    assert outsider_client.get(VERIFY).status_code == 404
    assert make_api().get(VERIFY).status_code == 401


@pytest.mark.django_db
def test_verify_takes_only_get(api):
    assert api.post(VERIFY, {}).status_code == 405


# --- the events recorded before the chain ------------------------------------------------


@pytest.mark.django_db
def test_the_migration_chains_existing_events_by_time_then_id(tenant, other_tenant, monkeypatch):
    migration = importlib.import_module("audit.migrations.0004_chain_existing_events")
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches, one boundary inside a tie
    now = timezone.now()
    times = [now, now - dt.timedelta(days=2), now - dt.timedelta(days=1), now, now]
    events = [
        AuditEvent.objects.create(
            tenant=tenant, action="agent.updated", actor_type="user", occurred_at=at
        )
        for at in times
    ]
    add_events(other_tenant, 2)
    # As before the chain: no place, no hashes (past the model's guards, as 0003 left them).
    sql("UPDATE {table} SET seq = seq + 100, prev_hash = '', hash = ''")
    apps = (
        MigrationExecutor(connection)
        .loader.project_state(("audit", "0004_chain_existing_events"))
        .apps
    )

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.chain_existing(apps, editor)

    expected = sorted(events, key=lambda e: (e.occurred_at, e.pk.hex))
    chained = list(tenant.audit_events.order_by("seq"))
    assert [e.pk for e in chained] == [e.pk for e in expected]
    assert [e.seq for e in chained] == [1, 2, 3, 4, 5]
    assert chain.verify(tenant).as_json() == {"ok": True, "events": 5}
    assert chain.verify(other_tenant).as_json() == {"ok": True, "events": 2}


# --- concurrent writers --------------------------------------------------------------------

WRITERS = 50


def assert_one_unbroken_chain(tenant, n):
    rows = list(tenant.audit_events.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert [r[0] for r in rows] == list(range(1, n + 1))
    assert len({r[1] for r in rows}) == n  # no two events after the same one: no fork
    assert chain.verify(tenant).as_json() == {"ok": True, "events": n}


def write_concurrently(tenant, other_tenant=None) -> list[str]:
    """WRITERS threads, each with its own connection, released together, each recording one
    event in its own transaction (every fifth one also an event of `other_tenant`: a
    transaction across two chains must neither block nor fork either). Returns their errors."""
    writers = itertools.count()

    def write():
        i = next(writers)
        try:
            with transaction.atomic():
                record(tenant, ACTOR, "agent.updated", metadata={"writer": i})
                if other_tenant is not None and i % 5 == 0:
                    record(other_tenant, ACTOR, "agent.updated", metadata={"writer": i})
        except Exception as exc:  # noqa: BLE001 - the test reports every one
            return repr(exc)

    return [error for error in race(WRITERS, write) if error is not None]


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_writers_leave_one_unbroken_chain_on_postgresql(tenant, other_tenant):
    assert write_concurrently(tenant, other_tenant) == []
    assert_one_unbroken_chain(tenant, WRITERS)
    assert_one_unbroken_chain(other_tenant, WRITERS // 5)


SQLITE_WRITERS = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tenants.models import Tenant
from tests.audit.test_chain import assert_one_unbroken_chain, write_concurrently, WRITERS

tenant = Tenant.objects.create(slug="acme-corp", name="Acme Corp")
errors = write_concurrently(tenant)
assert_one_unbroken_chain(tenant, WRITERS)
print(json.dumps(errors))
"""


def test_fifty_concurrent_writers_leave_one_unbroken_chain_on_a_sqlite_file(tmp_path):
    """SQLite as deployed, a file: the in-memory test database is one connection's alone. Each
    thread opens its own connection; BEGIN IMMEDIATE queues them on the one write lock."""
    db_url = f"sqlite:///{tmp_path / 'chain.sqlite3'}"
    assert json.loads(run_python(SQLITE_WRITERS, db_url, timeout=180).splitlines()[-1]) == []
