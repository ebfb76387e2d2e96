"""The agent runtime API (/agents/me...): who I am, my usage, my access set, self-rotation and
self-deactivation; and which credentials may call it."""

import datetime as dt

import pytest
from django.utils import timezone

from agents import services
from agents.models import Agent
from apikeys import usage
from apikeys.models import ApiKey, KeyUsage
from tests.agents.conftest import ADMIN, RUNTIME, SYSTEM, make_agent
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


# --- who may call it ----------------------------------------------------------------------


def test_me_returns_the_calling_agent_and_its_keys_without_secrets(agent_api, agent, made):
    response = agent_api.get(RUNTIME)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(agent.pk) and body["name"] == "support-bot"
    assert body["roles"] == ["support-agent"]
    assert [k["id"] for k in body["keys"]] == [str(made[1].pk)]
    assert "apiKey" not in body and made[2] not in response.content.decode()
    assert "RateLimit-Limit" in response


def test_admin_key_on_the_runtime_api_is_a_403(api):
    for path in ("", "/usage", "/grants"):
        response = api.get(RUNTIME + path)
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    assert api.post(f"{RUNTIME}/deactivate").status_code == 403


def test_runtime_api_without_a_key_is_a_401(anon_api, tenant):
    response = anon_api.get(RUNTIME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_portal_session_cannot_call_the_runtime_api(admin_client, agent):
    assert admin_client.get(RUNTIME).status_code == 401


def test_agent_key_of_another_tenant_is_a_401(other_tenant, tenant):
    foreign_secret = make_agent(other_tenant, name="globex-bot")[2]
    assert ApiClient(foreign_secret).get(RUNTIME).status_code == 401


def test_expired_agents_keys_answer_401(agent_api, agent):
    Agent.objects.filter(pk=agent.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert agent_api.get(RUNTIME).status_code == 401


def test_revoked_agent_key_answers_401(agent_api, tenant, made):
    from apikeys import services as key_services

    key_services.revoke_key(tenant, SYSTEM, made[1])
    assert agent_api.get(RUNTIME).status_code == 401


# --- usage --------------------------------------------------------------------------------


def test_usage_counts_requests_per_key_and_day_over_30_days(agent_api, tenant, agent, made):
    today = timezone.now().date()
    second, second_secret = services.mint_agent_key(tenant, SYSTEM, agent, name="second")
    KeyUsage.objects.create(
        tenant=tenant, key=made[1], agent=agent, date=today - dt.timedelta(days=3), count=5
    )
    KeyUsage.objects.create(
        tenant=tenant, key=second, agent=agent, date=today - dt.timedelta(days=29), count=2
    )
    KeyUsage.objects.create(
        tenant=tenant, key=made[1], agent=agent, date=today - dt.timedelta(days=30), count=100
    )
    for _ in range(3):
        agent_api.get(RUNTIME)
    usage.flush()
    body = agent_api.get(f"{RUNTIME}/usage").json()
    assert body["total"] == 5 + 2 + 3
    assert body["byKey"] == [
        {"keyId": str(made[1].pk), "prefix": made[1].prefix, "count": 8},
        {"keyId": str(second.pk), "prefix": second.prefix, "count": 2},
    ]
    assert len(body["daily"]) == 30
    assert body["daily"][0] == {"date": (today - dt.timedelta(days=29)).isoformat(), "count": 2}
    assert body["daily"][-1] == {"date": today.isoformat(), "count": 3}
    assert body["daily"][-4]["count"] == 5


def test_usage_only_counts_the_calling_agent(agent_api, tenant):
    other = make_agent(tenant, name="other")
    ApiClient(other[2]).get(RUNTIME)
    usage.flush()
    assert agent_api.get(f"{RUNTIME}/usage").json()["total"] == 0


def test_requests_set_last_used_on_key_and_agent(agent_api, agent, made):
    agent_api.get(RUNTIME, REMOTE_ADDR="198.51.100.4")
    usage.flush()
    made[1].refresh_from_db()
    agent.refresh_from_db()
    assert made[1].last_used_ip == "198.51.100.4" and made[1].last_used_at is not None
    assert agent.last_used_ip == "198.51.100.4" and agent.last_used_at is not None
    body = agent_api.get(RUNTIME).json()
    assert body["lastUsedAt"] is not None and body["keys"][0]["lastUsedIp"] == "198.51.100.4"


# --- access set ---------------------------------------------------------------------------


def test_grants_endpoint_returns_the_merged_access_set_with_sources(agent_api, tenant, agent):
    grant = services.create_grant(
        tenant, SYSTEM, agent, permission="write:refunds",
        expires_at=timezone.now() + dt.timedelta(minutes=5),
    )  # fmt: skip
    body = agent_api.get(f"{RUNTIME}/grants").json()
    data = {(e["permission"], e["source"]) for e in body["data"]}
    assert data == {
        ("read:tickets", "role:support-agent"),
        ("write:tickets", "role:support-agent"),
        ("read:reports", "direct"),
        ("write:refunds", f"grant:{grant.pk}"),
    }
    by_source = {e["source"]: e for e in body["data"]}
    assert by_source["direct"]["expiresAt"] is None
    assert by_source[f"grant:{grant.pk}"]["expiresAt"].endswith("Z")


# --- self-rotation ------------------------------------------------------------------------


def test_self_rotate_replaces_the_calling_key(agent_api, tenant, agent, made):
    response = agent_api.post(f"{RUNTIME}/rotate")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["apiKey"].startswith("sk_agent_live_") and body["rotatedFromId"] == str(made[1].pk)
    assert agent_api.get(RUNTIME).status_code == 401
    assert ApiClient(body["apiKey"]).get(RUNTIME).status_code == 200
    actions = set(tenant.audit_events.values_list("action", flat=True))
    assert {"api_key.rotated", "agent.key_rotated"} <= actions
    event = tenant.audit_events.get(action="agent.key_rotated")
    assert event.actor_type == "agent" and event.actor_id == str(agent.pk)


def test_self_rotate_leaves_the_agents_other_keys_alone(agent_api, tenant, agent):
    other_secret = services.mint_agent_key(tenant, SYSTEM, agent, name="other")[1]
    agent_api.post(f"{RUNTIME}/rotate")
    assert ApiClient(other_secret).get(RUNTIME).status_code == 200


def test_self_rotate_with_grace_keeps_the_old_key_until_the_deadline(agent_api, made):
    response = agent_api.post(f"{RUNTIME}/rotate", {"gracePeriod": 600})
    assert response.status_code == 201
    old = agent_api.get(RUNTIME)
    assert old.status_code == 200 and "Deprecation" in old and "Sunset" in old
    made[1].refresh_from_db()
    assert made[1].status == "deprecated"
    # The old key, already replaced, cannot mint a second successor.
    again = agent_api.post(f"{RUNTIME}/rotate")
    assert again.status_code == 409
    assert ApiKey.objects.filter(agent=made[0], status="active").count() == 1


@pytest.mark.parametrize("body", [{"gracePeriod": -5}, {"gracePeriod": "60"}, {"keyId": "x"}])
def test_self_rotate_validation(agent_api, made, body):
    response = agent_api.post(f"{RUNTIME}/rotate", body)
    assert response.status_code == 400
    made[1].refresh_from_db()
    assert made[1].status == "active"


# --- self-deactivation --------------------------------------------------------------------


def test_self_deactivate_stops_every_key_of_the_agent(agent_api, tenant, agent, made):
    other_secret = services.mint_agent_key(tenant, SYSTEM, agent, name="other")[1]
    response = agent_api.post(f"{RUNTIME}/deactivate")
    assert response.status_code == 200
    assert response.json()["isActive"] is False
    assert agent_api.get(RUNTIME).status_code == 401
    assert ApiClient(other_secret).get(RUNTIME).status_code == 401
    event = tenant.audit_events.get(action="agent.deactivated")
    assert event.actor_type == "agent" and event.target_id == str(agent.pk)
    rejected = tenant.audit_events.filter(action="api_key.rejected")
    assert {e.metadata["reason"] for e in rejected} == {"agent_inactive"}


def test_a_deactivated_agent_cannot_reactivate_itself(agent_api, agent):
    agent_api.post(f"{RUNTIME}/deactivate")
    assert agent_api.post(f"{RUNTIME}/deactivate").status_code == 401
    assert agent_api.post(f"{ADMIN}/agents/{agent.pk}/activate").status_code == 401
    assert agent_api.patch(f"{ADMIN}/agents/{agent.pk}", {"isActive": True}).status_code == 401
    agent.refresh_from_db()
    assert agent.is_active is False


def test_an_admin_can_reactivate_a_self_deactivated_agent(agent_api, api, agent):
    agent_api.post(f"{RUNTIME}/deactivate")
    assert api.post(f"{ADMIN}/agents/{agent.pk}/activate").status_code == 200
    assert agent_api.get(RUNTIME).status_code == 200


def test_the_agents_rate_limit_applies_to_its_keys(api, agent, agent_api):
    api.patch(f"{ADMIN}/agents/{agent.pk}", {"rateLimitPerMinute": 2})
    assert agent_api.get(RUNTIME)["RateLimit-Limit"] == "2"
    assert agent_api.get(RUNTIME).status_code == 200
    refused = agent_api.get(RUNTIME)
    assert refused.status_code == 429 and "Retry-After" in refused


def test_runtime_endpoints_refuse_other_methods(agent_api):
    assert agent_api.post(RUNTIME).status_code == 405
    assert agent_api.get(f"{RUNTIME}/rotate").status_code == 405
    assert agent_api.get(f"{RUNTIME}/deactivate").status_code == 405
