"""Elevation requests (SPEC §15): the agent asks, an admin approves or denies, a pending
request lapses after 24 hours."""

import datetime as dt

import pytest
from django.utils import timezone

from access import rules
from audit.models import AuditEvent
from elevation import services
from elevation.models import GrantRequest
from tests.agents.conftest import ADMIN, PORTAL, RUNTIME, SYSTEM, make_agent
from tests.agents.test_concurrency import race
from tests.conftest import HTMX, ApiClient, mint_admin_key, requires_postgres

pytestmark = pytest.mark.django_db
ASK = {"permissions": ["write:payments"], "reason": "refund #42", "durationSeconds": 600}


def ask(agent_api, body=ASK, **kwargs):
    return agent_api.post(f"{RUNTIME}/grant-requests", body, **kwargs)


def test_an_agent_asks_and_polls(agent_api, agent, tenant):
    response = ask(agent_api)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["permissions"] == ["write:payments"]
    assert body["durationSeconds"] == 600 and body["decidedAt"] is None
    polled = agent_api.get(f"{RUNTIME}/grant-requests/{body['id']}")
    assert polled.status_code == 200 and polled.json() == body
    assert AuditEvent.objects.filter(action="grant_request.created").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ASK, "permissions": []}, "permissions"),
        ({**ASK, "permissions": ["nope"]}, "permissions"),
        ({**ASK, "permissions": [f"read:r{i}" for i in range(21)]}, "permissions"),
        ({**ASK, "reason": ""}, "reason"),
        ({**ASK, "reason": "x" * 501}, "reason"),
        ({**ASK, "durationSeconds": 59}, "durationSeconds"),
        ({**ASK, "durationSeconds": 86401}, "durationSeconds"),
        ({**ASK, "durationSeconds": "600"}, "durationSeconds"),
        ({**ASK, "extra": 1}, "extra"),
        ({"reason": "r", "durationSeconds": 60}, "permissions"),
    ],
)
def test_bad_requests_are_400_with_details(agent_api, tenant, body, field):
    response = ask(agent_api, body)
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not GrantRequest.objects.exists()


def test_another_agents_request_is_404(agent_api, tenant):
    other = make_agent(tenant, name="other")
    req = ask(ApiClient(other[2])).json()
    assert agent_api.get(f"{RUNTIME}/grant-requests/{req['id']}").status_code == 404
    assert agent_api.get(f"{RUNTIME}/grant-requests/not-a-uuid").status_code == 404


def test_an_admin_key_cannot_ask(api):
    assert ask(api).status_code == 403


def test_approval_creates_the_grants_from_now_for_the_duration(agent_api, agent, api, tenant):
    req = ask(agent_api, {**ASK, "permissions": ["write:payments", "read:ledger"]}).json()
    assert not rules.Matcher([e["permission"] for e in rules.access_set(agent)]).allows(
        "write:payments"
    )
    before = timezone.now()
    response = api.post(f"{ADMIN}/grant-requests/{req['id']}/approve", {"note": "ok"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["note"] == "ok"
    assert body["decidedBy"]["type"] == "api_key"
    grants = list(agent.grants.order_by("permission"))
    assert [g.permission for g in grants] == ["read:ledger", "write:payments"]
    for grant in grants:
        assert before + dt.timedelta(seconds=600) <= grant.expires_at
        assert grant.expires_at <= timezone.now() + dt.timedelta(seconds=600)
    assert agent_api.get(f"{RUNTIME}/grant-requests/{req['id']}").json()["status"] == "approved"
    granted = {e["permission"] for e in agent_api.get(f"{RUNTIME}/grants").json()["data"]}
    assert {"write:payments", "read:ledger"} <= granted
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"grant_request.approved", "grant.created"} <= actions


def test_deny_creates_nothing_and_a_second_decision_is_409(agent_api, agent, api):
    req = ask(agent_api).json()
    denied = api.post(f"{ADMIN}/grant-requests/{req['id']}/deny", {"note": "not today"})
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    assert not agent.grants.exists()
    again = api.post(f"{ADMIN}/grant-requests/{req['id']}/approve", {})
    assert again.status_code == 409
    assert not agent.grants.exists()
    polled = agent_api.get(f"{RUNTIME}/grant-requests/{req['id']}").json()
    assert polled["note"] == "not today"


def test_a_pending_request_lapses_after_24_hours(agent_api, agent, api, tenant):
    req = ask(agent_api).json()
    GrantRequest.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = api.post(f"{ADMIN}/grant-requests/{req['id']}/approve", {})
    assert response.status_code == 409
    assert not agent.grants.exists()
    assert GrantRequest.objects.get().status == "expired"
    assert AuditEvent.objects.filter(action="grant_request.expired").count() == 1


def test_a_poll_shows_a_lapsed_request_expired(agent_api):
    req = ask(agent_api).json()
    GrantRequest.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert agent_api.get(f"{RUNTIME}/grant-requests/{req['id']}").json()["status"] == "expired"


def test_the_job_expires_only_lapsed_pending_requests(agent_api):
    old, new = ask(agent_api).json(), ask(agent_api).json()
    GrantRequest.objects.filter(pk=old["id"]).update(
        created_at=timezone.now() - dt.timedelta(hours=25),
        expires_at=timezone.now() - dt.timedelta(hours=1),
    )
    assert services.expire_pending() == 1
    assert services.expire_pending() == 0
    assert GrantRequest.objects.get(pk=old["id"]).status == "expired"
    assert GrantRequest.objects.get(pk=new["id"]).status == "pending"


def test_admin_list_filters_by_status(agent_api, api):
    first, second = ask(agent_api).json(), ask(agent_api).json()
    api.post(f"{ADMIN}/grant-requests/{first['id']}/deny", {})
    listed = api.get(f"{ADMIN}/grant-requests").json()
    assert [r["id"] for r in listed["data"]] == [second["id"], first["id"]]
    assert listed["hasMore"] is False
    pending = api.get(f"{ADMIN}/grant-requests?status=pending").json()["data"]
    assert [r["id"] for r in pending] == [second["id"]]
    assert api.get(f"{ADMIN}/grant-requests?status=nope").status_code == 400


def test_scopes_and_tenants(agent_api, tenant, other_tenant):
    req = ask(agent_api).json()
    reader = ApiClient(mint_admin_key(tenant, "r", scopes=["agents:read"])[1])
    assert reader.get(f"{ADMIN}/grant-requests").status_code == 200
    assert reader.post(f"{ADMIN}/grant-requests/{req['id']}/approve", {}).status_code == 403
    stranger = ApiClient(mint_admin_key(other_tenant, "x")[1])
    url = f"/t/{other_tenant.slug}/api/v1/admin/grant-requests/{req['id']}/approve"
    assert stranger.post(url, {}).status_code == 404
    assert stranger.get(f"/t/{other_tenant.slug}/api/v1/admin/grant-requests").json()["data"] == []
    assert GrantRequest.objects.get().status == "pending"


def test_grant_requests_are_idempotent(agent_api):
    first = ask(agent_api, headers={"Idempotency-Key": "ask-1"})
    again = ask(agent_api, headers={"Idempotency-Key": "ask-1"})
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert GrantRequest.objects.count() == 1


def test_webhook_event_types_list_the_four_events(api):
    types = {t["type"] for t in api.get(f"{ADMIN}/webhook-event-types").json()["data"]}
    assert {f"grant_request.{a}" for a in ("created", "approved", "denied", "expired")} <= types


# --- portal -------------------------------------------------------------------------------


def test_portal_approve_in_place(admin_client, agent_api, agent):
    req = ask(agent_api).json()
    page = admin_client.get(f"{PORTAL}/").content.decode()
    assert "Pending elevation requests" in page and 'id="nav-grant-requests"' in page
    url = f"{PORTAL}/grant-requests/{req['id']}/approve?from=overview"
    response = admin_client.post(url, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="grant-requests"' in html and "<html" not in html
    assert "None: no agent is waiting" in html
    assert agent.grants.filter(permission="write:payments").exists()


def test_portal_deny_without_js_returns_to_the_agent_page(admin_client, agent_api, agent):
    req = ask(agent_api).json()
    assert (
        "Pending elevation requests"
        in admin_client.get(f"{PORTAL}/agents/{agent.pk}").content.decode()
    )
    url = f"{PORTAL}/grant-requests/{req['id']}/deny?from=agent:{agent.pk}"
    response = admin_client.post(url, {"note": "no"})
    assert response.status_code == 303 and response["Location"].endswith(f"/agents/{agent.pk}")
    assert GrantRequest.objects.get().status == "denied"


def test_viewers_see_no_buttons_and_are_refused(viewer_client, agent_api):
    req = ask(agent_api).json()
    page = viewer_client.get(f"{PORTAL}/grant-requests").content.decode()
    assert "refund #42" in page and "Approve" not in page
    url = f"{PORTAL}/grant-requests/{req['id']}/approve"
    assert viewer_client.post(url).status_code == 403
    assert GrantRequest.objects.get().status == "pending"


def test_the_nav_notice_follows_the_pending_count(admin_client, agent_api):
    assert 'id="nav-grant-requests"' not in admin_client.get(f"{PORTAL}/roles").content.decode()
    req = ask(agent_api).json()
    assert 'id="nav-grant-requests"' in admin_client.get(f"{PORTAL}/roles").content.decode()
    services.deny_request(
        GrantRequest.objects.get().tenant, SYSTEM, GrantRequest.objects.get(pk=req["id"])
    )
    assert 'id="nav-grant-requests"' not in admin_client.get(f"{PORTAL}/roles").content.decode()


# --- races (PostgreSQL row locks) ----------------------------------------------------------


def _outcome(call):
    """ "ok", or the class name of the error the race's loser raised."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the loser is recorded, not raised
        return type(exc).__name__
    return "ok"


def _race(*calls):
    return race([lambda c=c: _outcome(c) for c in calls])


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(5))
def test_approval_racing_the_expiry_job_has_one_winner(tenant, attempt):
    agent = make_agent(tenant, name=f"racer-{attempt}")[0]
    req = services.create_request(
        tenant, SYSTEM, agent, permissions=["write:x"], reason="r", duration_seconds=60
    )
    deadline = req.expires_at
    before, after = deadline - dt.timedelta(seconds=1), deadline + dt.timedelta(seconds=1)
    results = _race(
        lambda: services.approve_request(tenant, SYSTEM, req, now=before),
        lambda: services.expire_pending(now=after),
    )
    req.refresh_from_db()
    events = set(AuditEvent.objects.filter(target_id=str(req.pk)).values_list("action", flat=True))
    if req.status == "approved":
        assert results[0] == "ok"
        assert agent.grants.count() == 1 and "grant_request.expired" not in events
    else:
        assert req.status == "expired" and results[0] == "Conflict"
        assert not agent.grants.exists() and "grant_request.approved" not in events


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_approve_racing_deny_has_one_winner(tenant):
    agent = make_agent(tenant, name="racer")[0]
    req = services.create_request(
        tenant, SYSTEM, agent, permissions=["write:x"], reason="r", duration_seconds=60
    )
    results = _race(
        lambda: services.approve_request(tenant, SYSTEM, req),
        lambda: services.deny_request(tenant, SYSTEM, req),
    )
    assert sorted(results) == ["Conflict", "ok"]
    req.refresh_from_db()
    assert agent.grants.count() == (1 if req.status == "approved" else 0)
