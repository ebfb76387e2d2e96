"""Roles: create, list, read, update, delete (and the rule for roles agents hold), as JSON, page,
HTMX fragment and from another tenant."""

import pytest

from agents.models import Role
from tests.agents.conftest import ADMIN, PORTAL, is_fragment, is_full_page, make_agent, make_role
from tests.conftest import HTMX, ApiClient, mint_admin_key

pytestmark = pytest.mark.django_db

API = f"{ADMIN}/roles"
PAGE = f"{PORTAL}/roles"


# --- JSON ---------------------------------------------------------------------------------


def test_create_role(api, tenant):
    response = api.post(
        API, {"slug": "billing", "name": "Billing", "permissions": ["read:invoices"]}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "billing" and body["name"] == "Billing"
    assert body["permissions"] == ["read:invoices"] and body["createdAt"].endswith("Z")
    event = tenant.audit_events.get(action="role.created")
    assert event.target_name == "billing"


def test_create_role_makes_a_slug_from_the_name(api):
    body = api.post(API, {"name": "Support Agent L2"}).json()
    assert body["slug"] == "support-agent-l2" and body["permissions"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"slug": "x"}, "name"),
        ({"name": "X", "slug": "Not A Slug"}, "slug"),
        ({"name": "X", "slug": "-x"}, "slug"),
        ({"name": "X", "permissions": ["nope"]}, "permissions"),
        ({"name": "X", "permissions": "read:x"}, "permissions"),
        ({"name": "X", "level": 3}, "level"),
        ({"name": "☃☃"}, "slug"),
    ],
)
def test_invalid_role_is_a_400(api, body, field):
    response = api.post(API, body)
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not Role.objects.exists()


def test_duplicate_role_slug_is_a_409(api, role):
    response = api.post(API, {"slug": "support-agent", "name": "Again"})
    assert response.status_code == 409
    assert Role.objects.count() == 1


def test_list_and_read_roles(api, tenant, role):
    make_role(tenant, slug="billing", permissions=["read:invoices"])
    body = api.get(API).json()
    assert [r["slug"] for r in body["data"]] == ["billing", "support-agent"]
    one = api.get(f"{API}/support-agent").json()
    assert one["permissions"] == ["read:tickets", "write:tickets"]
    assert api.get(f"{API}/nope").status_code == 404


def test_patch_and_put_role(api, tenant, role):
    response = api.patch(f"{API}/support-agent", {"permissions": ["read:tickets"]})
    assert response.status_code == 200
    assert response.json()["permissions"] == ["read:tickets"]
    assert response.json()["name"] == "Support Agent"
    response = api.put(f"{API}/support-agent", {"slug": "support", "name": "Support"})
    assert response.json()["slug"] == "support"
    assert api.get(f"{API}/support").status_code == 200
    assert api.get(f"{API}/support-agent").status_code == 404
    assert tenant.audit_events.filter(action="role.updated").count() == 2


def test_renaming_a_role_to_a_taken_slug_is_a_409(api, tenant, role):
    make_role(tenant, slug="billing")
    assert api.patch(f"{API}/billing", {"slug": "support-agent"}).status_code == 409


def test_invalid_role_update_is_a_400(api, role):
    response = api.patch(f"{API}/support-agent", {"name": ""})
    assert response.status_code == 400 and "name" in response.json()["details"]
    assert api.patch(f"{API}/support-agent", {"slug": "Bad Slug"}).status_code == 400


def test_changing_a_roles_permissions_changes_its_agents_access(api, agent_api, role, agent):
    before = {
        e["permission"]
        for e in agent_api.get("/t/acme-corp/api/v1/agents/me/grants").json()["data"]
    }
    assert "write:tickets" in before
    api.patch(f"{API}/support-agent", {"permissions": ["read:tickets", "close:tickets"]})
    after = {
        e["permission"]
        for e in agent_api.get("/t/acme-corp/api/v1/agents/me/grants").json()["data"]
    }
    assert "write:tickets" not in after and "close:tickets" in after


def test_delete_unheld_role(api, tenant):
    make_role(tenant, slug="unused")
    assert api.delete(f"{API}/unused").status_code == 204
    assert not Role.objects.exists()
    assert tenant.audit_events.filter(action="role.deleted").count() == 1


def test_deleting_a_held_role_is_a_409_naming_the_agents(api, agent, role):
    response = api.delete(f"{API}/support-agent")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "conflict"
    assert body["details"] == {"agents": ["support-bot"]}
    assert "support-bot" in body["message"] and "force=true" in body["message"]
    assert Role.objects.filter(pk=role.pk).exists()


def test_force_deletes_a_held_role_and_takes_it_from_the_agents(api, tenant, agent, role):
    response = api.delete(f"{API}/support-agent?force=true")
    assert response.status_code == 204
    assert api.get(f"{ADMIN}/agents/{agent.pk}").json()["roles"] == []
    event = tenant.audit_events.get(action="role.deleted")
    assert event.metadata["removedFromAgents"] == ["support-bot"]


def test_roles_need_the_roles_scopes(tenant, role):
    reader = ApiClient(mint_admin_key(tenant, scopes=["roles:read"])[1])
    assert reader.get(API).status_code == 200
    assert reader.post(API, {"name": "X"}).status_code == 403
    assert reader.delete(f"{API}/support-agent").status_code == 403
    agents_only = ApiClient(mint_admin_key(tenant, scopes=["agents:write"])[1])
    assert agents_only.get(API).status_code == 403


def test_roles_of_another_tenant_are_404(api, other_tenant):
    make_role(other_tenant, slug="globex-role")
    assert api.get(f"{API}/globex-role").status_code == 404
    assert api.patch(f"{API}/globex-role", {"name": "Mine"}).status_code == 404
    assert api.delete(f"{API}/globex-role?force=true").status_code == 404
    assert [r["slug"] for r in api.get(API).json()["data"]] == []
    assert Role.objects.get().name == "Globex Role"


def test_post_on_a_role_is_405_in_the_api(api, role):
    assert api.post(f"{API}/support-agent", {"name": "x"}).status_code == 405


# --- pages --------------------------------------------------------------------------------


def test_roles_page_lists_roles_with_holders(admin_client, agent, role):
    response = admin_client.get(PAGE)
    assert response.status_code == 200 and is_full_page(response)
    html = response.content.decode()
    assert 'data-role="support-agent"' in html and "write:tickets" in html
    assert "support-bot" in html  # held by
    assert "Create a role" in html


def test_roles_fragment_for_htmx(admin_client, role):
    response = admin_client.get(PAGE, headers=HTMX)
    assert is_fragment(response, "role-area")
    one = admin_client.get(f"{PAGE}/support-agent", headers=HTMX)
    assert one.status_code == 200 and is_fragment(one, "role-area")


def test_role_page_opens_its_edit_form(admin_client, role):
    html = admin_client.get(f"{PAGE}/support-agent").content.decode()
    assert "<details open>" in html


def test_create_role_from_the_page(admin_client):
    response = admin_client.post(
        PAGE, {"name": "Billing", "slug": "", "permissions": "read:invoices"}
    )
    assert response.status_code == 303 and response["Location"] == PAGE
    role = Role.objects.get()
    assert role.slug == "billing" and role.permissions == ["read:invoices"]
    fragment = admin_client.post(PAGE, {"name": "Ops", "permissions": ""}, headers=HTMX)
    assert fragment.status_code == 201 and is_fragment(fragment, "role-area")
    assert 'data-role="ops"' in fragment.content.decode()


def test_invalid_role_from_the_page_shows_errors(admin_client):
    response = admin_client.post(PAGE, {"name": "X", "permissions": "bad"})
    assert response.status_code == 400 and is_full_page(response)
    assert "not a permission" in response.content.decode()
    assert 'value="X"' in response.content.decode()


def test_edit_role_from_the_page(admin_client, role):
    data = {"slug": "support-agent", "name": "Support", "permissions": ""}
    response = admin_client.post(f"{PAGE}/support-agent", data)
    assert response.status_code == 303
    role.refresh_from_db()
    assert role.name == "Support" and role.permissions == []
    fragment = admin_client.post(f"{PAGE}/support-agent", {**data, "name": "S2"}, headers=HTMX)
    assert is_fragment(fragment, "role-area") and "S2" in fragment.content.decode()


def test_delete_held_role_page_says_who_holds_it_and_confirms(admin_client, agent, role):
    html = admin_client.get(PAGE).content.decode()
    assert "1 agent holds this role:</strong> support-bot" in html
    assert f'action="{PAGE}/support-agent/delete?force=true"' in html
    response = admin_client.post(f"{PAGE}/support-agent/delete?force=true")
    assert response.status_code == 303
    assert not Role.objects.exists()
    assert list(agent.roles.all()) == []


def test_delete_held_role_from_the_page_without_force_refuses(admin_client, agent, role):
    response = admin_client.post(f"{PAGE}/support-agent/delete", headers=HTMX)
    assert response.status_code == 409 and response["HX-Retarget"] == "#flash"
    assert "support-bot" in response.content.decode()
    assert Role.objects.exists()


def test_delete_role_with_htmx_returns_the_area(admin_client, role):
    response = admin_client.post(f"{PAGE}/support-agent/delete", headers=HTMX)
    assert response.status_code == 200 and is_fragment(response, "role-area")
    assert not Role.objects.exists()


def test_roles_pages_of_another_tenant_are_404(outsider_client, admin_client, other_tenant, role):
    assert outsider_client.get(PAGE).status_code == 404
    assert outsider_client.get(PAGE, headers=HTMX).status_code == 404
    assert outsider_client.post(PAGE, {"name": "X"}).status_code == 404
    assert outsider_client.post(f"{PAGE}/support-agent", {"name": "X"}).status_code == 404
    assert outsider_client.post(f"{PAGE}/support-agent/delete?force=true").status_code == 404
    make_role(other_tenant, slug="globex-role")
    assert admin_client.get(f"{PAGE}/globex-role").status_code == 404
    assert admin_client.post(f"{PAGE}/globex-role/delete?force=true").status_code == 404
    assert Role.objects.count() == 2


def test_viewer_sees_roles_without_buttons_and_cannot_change_them(viewer_client, tenant, role):
    make_agent(tenant, name="holder", roles=["support-agent"])
    html = viewer_client.get(PAGE).content.decode()
    assert "support-agent" in html
    assert "Create a role" not in html and "Delete role" not in html and "Save role" not in html
    assert viewer_client.post(PAGE, {"name": "X"}).status_code == 403
    assert viewer_client.post(f"{PAGE}/support-agent/delete?force=true").status_code == 403
    assert Role.objects.count() == 1
