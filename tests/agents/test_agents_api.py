"""The admin JSON API for agents: create, list, read, update, delete, validation, duplicates,
scopes, and key operations (mint another, rotate one / all with grace)."""

import datetime as dt

import pytest
from django.utils import timezone

from agents.models import Agent
from apikeys.models import ApiKey, KeyUsage
from audit.models import AuditEvent
from tests.agents.conftest import ADMIN, make_agent
from tests.conftest import ApiClient, mint_admin_key

pytestmark = pytest.mark.django_db

AGENTS = f"{ADMIN}/agents"


def actions(tenant):
    return list(tenant.audit_events.order_by("occurred_at").values_list("action", flat=True))


# --- create -------------------------------------------------------------------------------


def test_create_agent_returns_it_with_its_first_key_once(api, tenant, role):
    response = api.post(
        AGENTS,
        {
            "name": "Support Assistant",
            "type": "ai_assistant",
            "description": "Answers tickets",
            "roles": ["support-agent"],
            "permissions": ["read:reports"],
            "allowedIps": ["10.0.0.0/8", "203.0.113.7"],
            "expiresIn": 3600,
            "rateLimitPerMinute": 120,
        },
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["apiKey"].startswith("sk_agent_live_")
    assert body["name"] == "Support Assistant"
    assert body["type"] == "ai_assistant"
    assert body["description"] == "Answers tickets"
    assert body["roles"] == ["support-agent"]
    assert body["permissions"] == ["read:reports"]
    assert body["allowedIps"] == ["10.0.0.0/8", "203.0.113.7/32"]
    assert body["rateLimitPerMinute"] == 120
    assert body["isActive"] is True
    assert body["expiresAt"].endswith("Z")
    assert body["lastUsedAt"] is None
    assert [k["kind"] for k in body["keys"]] == ["agent"]
    assert body["keys"][0]["agentId"] == body["id"]
    assert body["apiKey"].startswith(body["keys"][0]["prefix"])
    assert "apiKey" not in body["keys"][0]
    # Shown once: reading the agent again never shows the secret.
    again = api.get(f"{AGENTS}/{body['id']}").json()
    assert "apiKey" not in again and body["apiKey"] not in str(again)
    assert actions(tenant)[-2:] == ["agent.created", "api_key.created"]


def test_create_agent_defaults_to_a_service_with_no_restrictions(api):
    body = api.post(AGENTS, {"name": "worker"}).json()
    assert body["type"] == "service"
    assert body["roles"] == [] and body["permissions"] == []
    assert body["allowedIps"] is None and body["expiresAt"] is None
    assert body["rateLimitPerMinute"] is None


def test_created_agent_key_works_on_the_runtime_api(api):
    secret = api.post(AGENTS, {"name": "worker"}).json()["apiKey"]
    response = ApiClient(secret).get("/t/acme-corp/api/v1/agents/me")
    assert response.status_code == 200
    assert response.json()["name"] == "worker"


def test_audit_of_creation_holds_no_secret(api, tenant):
    secret = api.post(AGENTS, {"name": "worker"}).json()["apiKey"]
    for event in AuditEvent.objects.filter(tenant=tenant):
        assert secret not in str(event.metadata)
        assert secret[len("sk_agent_live_") + 12 :] not in str(event.metadata)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x", "type": "robot"}, "type"),
        ({"name": "x", "allowedIps": ["10.0.0.300"]}, "allowedIps"),
        ({"name": "x", "allowedIps": ["not-an-ip"]}, "allowedIps"),
        ({"name": "x", "allowedIps": ["10.0.0.0/33"]}, "allowedIps"),
        ({"name": "x", "allowedIps": "10.0.0.1"}, "allowedIps"),
        ({"name": "x", "allowedIps": {"ip": "10.0.0.1"}}, "allowedIps"),
        ({"name": "x", "roles": ["no-such-role"]}, "roles"),
        ({"name": "x", "roles": ["Not A Slug"]}, "roles"),
        ({"name": "x", "permissions": ["reports"]}, "permissions"),
        ({"name": "x", "permissions": ["Read:reports"]}, "permissions"),
        ({"name": "x", "permissions": ["read:"]}, "permissions"),
        ({"name": "x", "permissions": ["read:re ports"]}, "permissions"),
        ({"name": "x", "permissions": "read:reports"}, "permissions"),
        ({"name": "x", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"name": "x", "expiresAt": "tomorrow"}, "expiresAt"),
        ({"name": "x", "expiresIn": 0}, "expiresIn"),
        ({"name": "x", "rateLimitPerMinute": 0}, "rateLimitPerMinute"),
        ({"name": "x", "rateLimitPerMinute": "10"}, "rateLimitPerMinute"),
        ({"name": ""}, "name"),
        ({"name": "evil\u202ename"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_invalid_agent_is_a_400_with_details_and_creates_nothing(api, tenant, role, body, field):
    response = api.post(AGENTS, body)
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "bad_request" and error["status"] == 400
    assert field in error["details"]
    assert not Agent.objects.exists()
    assert not ApiKey.objects.filter(kind="agent").exists()


def test_unknown_role_error_names_the_role(api, role):
    response = api.post(AGENTS, {"name": "x", "roles": ["support-agent", "ghost"]})
    assert response.status_code == 400
    assert response.json()["details"]["roles"] == ["Unknown role 'ghost'."]


def test_a_role_of_another_tenant_is_unknown(api, other_tenant):
    from tests.agents.conftest import make_role

    make_role(other_tenant, slug="globex-only")
    response = api.post(AGENTS, {"name": "x", "roles": ["globex-only"]})
    assert response.status_code == 400
    assert "roles" in response.json()["details"]


def test_agent_body_must_be_json(api):
    response = api.post(AGENTS, "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


# --- duplicates ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["support-bot", "SUPPORT-BOT", "Support-Bot"])
def test_duplicate_agent_name_is_a_409_case_insensitively(api, agent, name):
    response = api.post(AGENTS, {"name": name})
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert Agent.objects.count() == 1


def test_same_agent_name_in_another_tenant_is_fine(api, other_tenant):
    make_agent(other_tenant, name="worker")
    assert api.post(AGENTS, {"name": "worker"}).status_code == 201


def test_renaming_to_a_taken_name_is_a_409(api, tenant, agent):
    other = make_agent(tenant, name="other")[0]
    response = api.patch(f"{AGENTS}/{other.pk}", {"name": "Support-Bot"})
    assert response.status_code == 409
    other.refresh_from_db()
    assert other.name == "other"


def test_changing_only_the_case_of_its_own_name_is_allowed(api, agent):
    response = api.patch(f"{AGENTS}/{agent.pk}", {"name": "Support-Bot"})
    assert response.status_code == 200
    assert response.json()["name"] == "Support-Bot"


# --- list and read ------------------------------------------------------------------------


def test_list_agents_newest_first_with_keys(api, tenant, agent):
    second = make_agent(tenant, name="second", type="bot")[0]
    body = api.get(AGENTS).json()
    assert set(body) == {"data", "hasMore", "nextCursor"}
    assert [a["name"] for a in body["data"]] == ["second", "support-bot"]
    assert body["data"][1]["roles"] == ["support-agent"]
    assert len(body["data"][0]["keys"]) == 1
    assert body["data"][0]["id"] == str(second.pk)


def test_list_agents_filters_by_type_and_active(api, tenant, agent):
    make_agent(tenant, name="bot-1", type="bot")
    off = make_agent(tenant, name="bot-2", type="bot")[0]
    Agent.objects.filter(pk=off.pk).update(is_active=False)
    names = lambda q: [a["name"] for a in api.get(f"{AGENTS}?{q}").json()["data"]]  # noqa: E731
    assert names("type=bot") == ["bot-2", "bot-1"]
    assert names("type=bot&isActive=true") == ["bot-1"]
    assert names("isActive=false") == ["bot-2"]
    assert names("type=ai_assistant") == ["support-bot"]


def test_list_agents_rejects_an_unknown_type_filter(api):
    response = api.get(f"{AGENTS}?type=robot")
    assert response.status_code == 400
    assert "type" in response.json()["details"]


def test_list_agents_paginates_with_a_cursor(api, tenant):
    for i in range(3):
        make_agent(tenant, name=f"a{i}")
    first = api.get(f"{AGENTS}?limit=2").json()
    assert [a["name"] for a in first["data"]] == ["a2", "a1"] and first["hasMore"]
    rest = api.get(f"{AGENTS}?limit=2&cursor={first['nextCursor']}").json()
    assert [a["name"] for a in rest["data"]] == ["a0"] and not rest["hasMore"]


def test_read_agent(api, agent):
    body = api.get(f"{AGENTS}/{agent.pk}").json()
    assert body["id"] == str(agent.pk)
    assert body["roles"] == ["support-agent"]
    assert set(body) >= {
        "id", "name", "description", "type", "roles", "permissions", "isActive", "allowedIps",
        "expiresAt", "lastUsedAt", "rateLimitPerMinute", "createdAt", "updatedAt", "keys",
    }  # fmt: skip


@pytest.mark.parametrize("agent_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_agent_is_a_404(api, agent_id):
    response = api.get(f"{AGENTS}/{agent_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_another_tenants_agent_is_a_404_everywhere(api, foreign_agent):
    base = f"{AGENTS}/{foreign_agent.pk}"
    assert api.get(base).status_code == 404
    assert api.patch(base, {"name": "stolen"}).status_code == 404
    assert api.delete(base).status_code == 404
    assert api.post(f"{base}/rotate-key", {}).status_code == 404
    assert api.get(f"{base}/keys").status_code == 404
    assert api.post(f"{base}/keys", {"name": "k"}).status_code == 404
    assert api.get(f"{base}/grants").status_code == 404
    assert api.post(f"{base}/grants", {"permission": "read:x"}).status_code == 404
    assert api.post(f"{base}/deactivate", {}).status_code == 404
    foreign_agent.refresh_from_db()
    assert foreign_agent.name == "globex-bot" and foreign_agent.is_active


def test_orgs_alias_serves_the_same_agents(api, agent):
    response = api.get("/orgs/acme-corp/api/v1/admin/agents")
    assert [a["id"] for a in response.json()["data"]] == [str(agent.pk)]


# --- update -------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(api, tenant, agent):
    response = api.patch(f"{AGENTS}/{agent.pk}", {"description": "New text"})
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "New text"
    assert body["roles"] == ["support-agent"] and body["permissions"] == ["read:reports"]
    assert body["type"] == "ai_assistant"
    event = tenant.audit_events.filter(action="agent.updated").get()
    assert event.metadata == {"changes": {"description": ["Answers tickets", "New text"]}}


def test_put_updates_the_given_fields_and_null_clears(api, agent, tenant):
    from tests.agents.conftest import make_role

    make_role(tenant, slug="billing", permissions=["read:invoices"])
    response = api.put(
        f"{AGENTS}/{agent.pk}",
        {
            "name": "renamed",
            "type": "bot",
            "roles": ["billing"],
            "permissions": [],
            "allowedIps": ["192.0.2.0/24"],
            "expiresAt": None,
            "rateLimitPerMinute": 30,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "renamed" and body["type"] == "bot"
    assert body["roles"] == ["billing"] and body["permissions"] == []
    assert body["allowedIps"] == ["192.0.2.0/24"]
    assert body["rateLimitPerMinute"] == 30
    cleared = api.patch(f"{AGENTS}/{agent.pk}", {"allowedIps": None, "rateLimitPerMinute": None})
    assert cleared.json()["allowedIps"] is None
    assert cleared.json()["rateLimitPerMinute"] is None


def test_update_with_nothing_changed_records_no_event(api, tenant, agent):
    assert api.patch(f"{AGENTS}/{agent.pk}", {"name": "support-bot"}).status_code == 200
    assert not tenant.audit_events.filter(action="agent.updated").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"type": "robot"}, "type"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"roles": ["ghost"]}, "roles"),
        ({"permissions": ["nope"]}, "permissions"),
        ({"allowedIps": ["999.1.1.1"]}, "allowedIps"),
        ({"allowedIps": "10.0.0.1"}, "allowedIps"),
        ({"expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"isActive": "yes"}, "isActive"),
        ({"keys": []}, "keys"),
    ],
)
def test_invalid_update_is_a_400_and_changes_nothing(api, tenant, agent, body, field):
    response = api.patch(f"{AGENTS}/{agent.pk}", body)
    assert response.status_code == 400
    assert field in response.json()["details"]
    fresh = api.get(f"{AGENTS}/{agent.pk}").json()
    assert fresh["name"] == "support-bot" and fresh["roles"] == ["support-agent"]
    assert not tenant.audit_events.filter(action="agent.updated").exists()


def _expire(agent, ago=dt.timedelta(days=1)):
    past = (timezone.now() - ago).replace(microsecond=0)
    Agent.objects.filter(pk=agent.pk).update(expires_at=past)
    return past


def test_an_expired_agent_can_be_edited_with_its_expiry_sent_back(api, tenant, agent):
    past = _expire(agent)
    sent = past.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    response = api.put(f"{AGENTS}/{agent.pk}", {"description": "Retired", "expiresAt": sent})
    assert response.status_code == 200, response.json()
    assert response.json()["description"] == "Retired"
    assert response.json()["expiresAt"] == sent
    event = tenant.audit_events.filter(action="agent.updated").get()
    assert event.metadata == {"changes": {"description": ["Answers tickets", "Retired"]}}


def test_a_changed_expiry_must_still_be_in_the_future(api, tenant, agent):
    past = _expire(agent)
    earlier = (past - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    response = api.patch(f"{AGENTS}/{agent.pk}", {"description": "x", "expiresAt": earlier})
    assert response.status_code == 400
    assert response.json()["details"] == {"expiresAt": ["Must be in the future."]}
    agent.refresh_from_db()
    assert (agent.expires_at, agent.description) == (past, "Answers tickets")
    assert not tenant.audit_events.filter(action="agent.updated").exists()
    later = (timezone.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert api.patch(f"{AGENTS}/{agent.pk}", {"expiresAt": later}).json()["expiresAt"] == later


def test_patch_is_active_false_deactivates_with_its_own_event(api, tenant, agent, made):
    response = api.patch(f"{AGENTS}/{agent.pk}", {"isActive": False})
    assert response.json()["isActive"] is False
    assert "agent.deactivated" in actions(tenant)
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 401


def test_post_on_an_agent_is_405_in_the_api(api, agent):
    response = api.post(f"{AGENTS}/{agent.pk}", {"name": "x"})
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD, PUT, PATCH, DELETE"


# --- activate / deactivate / delete -------------------------------------------------------


def test_deactivate_and_activate_through_the_api(api, tenant, agent, made):
    runtime = ApiClient(made[2])
    response = api.post(f"{AGENTS}/{agent.pk}/deactivate")
    assert response.status_code == 200 and response.json()["isActive"] is False
    assert runtime.get("/t/acme-corp/api/v1/agents/me").status_code == 401
    assert api.post(f"{AGENTS}/{agent.pk}/deactivate").status_code == 409
    response = api.post(f"{AGENTS}/{agent.pk}/activate")
    assert response.status_code == 200 and response.json()["isActive"] is True
    assert runtime.get("/t/acme-corp/api/v1/agents/me").status_code == 200
    agent_events = [a for a in actions(tenant) if a.startswith("agent.")]
    assert agent_events[-2:] == ["agent.deactivated", "agent.activated"]


def test_delete_agent_deletes_its_keys_and_they_stop_working(api, tenant, agent, made):
    api.post(f"{AGENTS}/{agent.pk}/keys", {"name": "second"})
    KeyUsage.objects.create(
        tenant=tenant, key=made[1], agent=agent, date=timezone.now().date(), count=3
    )
    response = api.delete(f"{AGENTS}/{agent.pk}")
    assert response.status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert not ApiKey.objects.filter(kind="agent").exists()
    assert not KeyUsage.objects.exists()
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 401
    event = tenant.audit_events.get(action="agent.deleted")
    assert event.target_id == str(agent.pk) and len(event.metadata["deletedKeys"]) == 2
    assert api.get(f"{AGENTS}/{agent.pk}").status_code == 404


# --- scopes and key kinds -----------------------------------------------------------------


def test_read_scope_can_list_but_not_create(tenant, agent):
    reader = ApiClient(mint_admin_key(tenant, scopes=["agents:read"])[1])
    assert reader.get(AGENTS).status_code == 200
    response = reader.post(AGENTS, {"name": "x"})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert reader.post(f"{AGENTS}/{agent.pk}/rotate-key", {}).status_code == 403


def test_a_key_without_agent_scopes_cannot_read_agents(tenant):
    other = ApiClient(mint_admin_key(tenant, scopes=["api_keys:read"])[1])
    assert other.get(AGENTS).status_code == 403


def test_write_scope_can_create(tenant):
    writer = ApiClient(mint_admin_key(tenant, scopes=["agents:write"])[1])
    assert writer.post(AGENTS, {"name": "x"}).status_code == 201


def test_agent_key_on_the_admin_api_is_a_403(agent_api):
    response = agent_api.get(AGENTS)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_viewer_session_can_read_but_not_write_json(viewer_client, agent):
    assert viewer_client.get(AGENTS).status_code == 200
    response = viewer_client.post(AGENTS, {"name": "x"}, content_type="application/json")
    assert response.status_code == 403


# --- agent keys ---------------------------------------------------------------------------


def test_mint_another_key_for_the_agent(api, tenant, agent):
    response = api.post(
        f"{AGENTS}/{agent.pk}/keys", {"name": "worker-2", "expiresIn": 600, "rateLimitPerMinute": 5}
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["apiKey"].startswith("sk_agent_live_")
    assert body["kind"] == "agent" and body["agentId"] == str(agent.pk)
    assert body["name"] == "worker-2" and body["rateLimitPerMinute"] == 5
    assert body["expiresAt"] is not None
    assert ApiClient(body["apiKey"]).get("/t/acme-corp/api/v1/agents/me").status_code == 200
    listed = api.get(f"{AGENTS}/{agent.pk}/keys").json()
    assert [k["name"] for k in listed["data"]] == ["worker-2", "default"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": "k", "expiresIn": -1}, "expiresIn"),
        ({"name": "k", "scopes": []}, "scopes"),
    ],
)
def test_mint_agent_key_validation(api, agent, body, field):
    response = api.post(f"{AGENTS}/{agent.pk}/keys", body)
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_rotate_key_without_key_id_replaces_every_live_key_by_one(api, tenant, agent, made):
    second = api.post(f"{AGENTS}/{agent.pk}/keys", {"name": "second"}).json()
    response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", {})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    new = response.json()
    assert new["apiKey"].startswith("sk_agent_live_") and new["agentId"] == str(agent.pk)
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 401
    assert ApiClient(second["apiKey"]).get("/t/acme-corp/api/v1/agents/me").status_code == 401
    assert ApiClient(new["apiKey"]).get("/t/acme-corp/api/v1/agents/me").status_code == 200
    statuses = {k["id"]: k["status"] for k in api.get(f"{AGENTS}/{agent.pk}").json()["keys"]}
    assert statuses == {str(made[1].pk): "revoked", second["id"]: "revoked", new["id"]: "active"}
    assert "agent.key_rotated" in actions(tenant)
    assert actions(tenant).count("api_key.rotated") == 2


def test_rotate_key_with_key_id_replaces_only_that_key(api, agent, made):
    second = api.post(f"{AGENTS}/{agent.pk}/keys", {"name": "second"}).json()
    response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", {"keyId": second["id"]})
    assert response.status_code == 201
    new = response.json()
    assert new["name"] == "second" and new["rotatedFromId"] == second["id"]
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 200
    assert ApiClient(second["apiKey"]).get("/t/acme-corp/api/v1/agents/me").status_code == 401


def test_rotate_key_with_grace_keeps_old_keys_working_deprecated(api, agent, made):
    response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", {"gracePeriod": 3600})
    assert response.status_code == 201
    old = ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me")
    assert old.status_code == 200
    assert old["Deprecation"].startswith("@")
    made[1].refresh_from_db()
    assert made[1].status == "deprecated"
    left = made[1].expires_at - timezone.now()
    assert dt.timedelta(minutes=59) < left <= dt.timedelta(hours=1)


def test_rotate_all_with_no_grace_also_revokes_keys_left_in_an_earlier_grace(api, agent, made):
    api.post(f"{AGENTS}/{agent.pk}/rotate-key", {"gracePeriod": 3600})
    response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", {})
    assert response.status_code == 201
    keys = api.get(f"{AGENTS}/{agent.pk}").json()["keys"]
    assert [k["status"] for k in keys] == ["active", "revoked", "revoked"]
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 401


def test_rotate_key_of_another_agents_key_is_a_404(api, tenant, agent):
    other = make_agent(tenant, name="other")
    response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", {"keyId": str(other[1].pk)})
    assert response.status_code == 404


def test_rotate_key_of_a_revoked_key_is_a_409(api, agent, made):
    api.post(f"/t/acme-corp/api/v1/admin/api-keys/{made[1].pk}/revoke")
    response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", {"keyId": str(made[1].pk)})
    assert response.status_code == 409
    assert api.post(f"{AGENTS}/{agent.pk}/rotate-key", {}).status_code == 409


@pytest.mark.parametrize(
    "body, field",
    [({"gracePeriod": -1}, "gracePeriod"), ({"gracePeriod": 604801}, "gracePeriod"),
     ({"keyId": "nope"}, "keyId"), ({"other": 1}, "other")],
)  # fmt: skip
def test_rotate_key_validation(api, agent, body, field):
    response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", body)
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_agent_key_actions_through_the_agent_routes(api, tenant, agent, made):
    base = f"{AGENTS}/{agent.pk}/keys/{made[1].pk}"
    assert api.post(f"{base}/deprecate").json()["status"] == "deprecated"
    assert api.post(f"{base}/activate").json()["status"] == "active"
    assert api.post(f"{base}/activate").status_code == 409
    revoked = api.post(f"{base}/revoke", {"reason": "leaked"})
    assert revoked.json()["status"] == "revoked"
    assert api.post(f"{base}/delete").status_code == 204
    assert not ApiKey.objects.filter(pk=made[1].pk).exists()
    assert api.post(f"{base}/explode").status_code == 404


def test_agent_keys_appear_on_the_api_keys_list_told_apart_by_kind(api, admin_key, agent, made):
    keys = "/t/acme-corp/api/v1/admin/api-keys"
    agent_only = api.get(f"{keys}?kind=agent").json()["data"]
    assert [k["id"] for k in agent_only] == [str(made[1].pk)]
    assert agent_only[0]["agentId"] == str(agent.pk)
    admin_only = api.get(f"{keys}?kind=admin").json()["data"]
    assert [k["id"] for k in admin_only] == [str(admin_key[0].pk)]
    by_agent = api.get(f"{keys}?agentId={agent.pk}").json()["data"]
    assert [k["id"] for k in by_agent] == [str(made[1].pk)]


def test_rotate_key_with_a_key_id_that_is_not_a_string_is_400(api, agent):
    # Django's UUIDField reads [] and {} as "no key", which would rotate every live key.
    for key_id in ([], {}, 0):
        response = api.post(f"{AGENTS}/{agent.pk}/rotate-key", {"keyId": key_id})
        assert response.status_code == 400, key_id
        assert "keyId" in response.json()["details"]
