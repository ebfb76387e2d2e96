"""The agents pages: each endpoint as a full page, an HTMX fragment, and from another tenant
(404); JSON for the same views is in test_agents_api.py. Viewers see no buttons and get 403."""

import re

import pytest
from django.utils import timezone

from agents.models import Agent
from apikeys.models import ApiKey, KeyUsage
from tests.agents.conftest import PORTAL, is_fragment, is_full_page, make_agent
from tests.conftest import HTMX, ApiClient

pytestmark = pytest.mark.django_db

AGENTS = f"{PORTAL}/agents"


def agent_rows(response):
    return re.findall(r'data-agent-id="([^"]+)"', response.content.decode())


def secret_in(response):
    match = re.search(r'id="minted-key" type="text" value="([^"]+)"', response.content.decode())
    return match.group(1) if match else None


# --- list ---------------------------------------------------------------------------------


def test_agents_page_lists_agents_with_their_columns(admin_client, agent):
    response = admin_client.get(AGENTS)
    assert response.status_code == 200 and is_full_page(response)
    html = response.content.decode()
    assert agent_rows(response) == [str(agent.pk)]
    assert "support-bot" in html and "AI assistant" in html
    assert 'class="status status-active">active<' in html
    assert "<code>support-agent</code>" in html
    assert '<td data-label="Live keys" class="live-keys">1</td>' in html
    assert "Create an agent" in html
    # The nav links to the agents and roles pages now that they exist.
    assert f'href="{AGENTS}"' in html and f'href="{PORTAL}/roles"' in html


def test_agents_table_fragment_for_htmx(admin_client, agent):
    response = admin_client.get(AGENTS, headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response, "agent-table")
    assert response.content.decode().lstrip().startswith('<div id="agent-table"')
    assert agent_rows(response) == [str(agent.pk)]


def test_agents_page_filters_by_type_and_active(admin_client, tenant, agent):
    bot = make_agent(tenant, name="bot-1", type="bot")[0]
    off = make_agent(tenant, name="bot-2", type="bot")[0]
    Agent.objects.filter(pk=off.pk).update(is_active=False)
    assert agent_rows(admin_client.get(f"{AGENTS}?type=bot&isActive=true")) == [str(bot.pk)]
    inactive = admin_client.get(f"{AGENTS}?isActive=false", headers=HTMX)
    assert agent_rows(inactive) == [str(off.pk)]
    assert 'class="status status-inactive">inactive<' in inactive.content.decode()


def test_live_key_count_leaves_out_revoked_and_expired_keys(admin_client, tenant, agent, made):
    from agents import services
    from tests.agents.conftest import SYSTEM

    services.mint_agent_key(tenant, SYSTEM, agent, name="second")
    gone = services.mint_agent_key(tenant, SYSTEM, agent, name="third")[0]
    ApiKey.objects.filter(pk=gone.pk).update(status="revoked")
    old = services.mint_agent_key(tenant, SYSTEM, agent, name="fourth")[0]
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now())
    html = admin_client.get(AGENTS).content.decode()
    assert '<td data-label="Live keys" class="live-keys">2</td>' in html


def test_agents_page_from_another_tenant_is_a_404(outsider_client, agent):
    assert outsider_client.get(AGENTS).status_code == 404
    assert outsider_client.get(AGENTS, headers=HTMX).status_code == 404
    assert outsider_client.post(AGENTS, {"name": "x"}).status_code == 404
    assert Agent.objects.count() == 1


def test_anonymous_visitor_is_sent_to_log_in(client, tenant):
    response = client.get(AGENTS)
    assert response.status_code == 302
    assert "next=" in response["Location"]


# --- create -------------------------------------------------------------------------------


FORM = {
    "name": "Support Assistant",
    "type": "ai_assistant",
    "description": "Answers tickets",
    "roles": ["support-agent"],
    "permissions": "read:reports, write:tickets",
    "allowedIps": "10.0.0.0/8 192.0.2.1",
    "expiresIn": str(30 * 86400),
    "rateLimitPerMinute": "60",
}


def test_create_form_without_javascript_shows_the_key_once_in_the_page(admin_client, role):
    response = admin_client.post(AGENTS, FORM)
    assert response.status_code == 201 and is_full_page(response)
    assert response["Cache-Control"] == "no-store"
    secret = secret_in(response)
    assert secret and secret.startswith("sk_agent_live_")
    html = response.content.decode()
    assert "You won't be able to see this key again" in html
    assert 'data-copy-target="minted-key"' in html and "data-dismiss" in html
    agent = Agent.objects.get()
    assert agent.name == "Support Assistant" and agent.type == "ai_assistant"
    assert agent.permissions == ["read:reports", "write:tickets"]
    assert agent.allowed_ips == ["10.0.0.0/8", "192.0.2.1/32"]
    assert agent.rate_limit_per_minute == 60 and agent.expires_at is not None
    assert [r.slug for r in agent.roles.all()] == ["support-agent"]
    # Never again: not in the list page afterwards, nor in the session.
    later = admin_client.get(AGENTS)
    assert secret not in later.content.decode()
    assert secret not in str(dict(admin_client.session))


def test_create_form_with_htmx_returns_the_area_fragment_with_the_key(admin_client, role):
    response = admin_client.post(AGENTS, FORM, headers=HTMX)
    assert response.status_code == 201
    assert is_fragment(response, "agent-area")
    assert response["Cache-Control"] == "no-store"
    assert secret_in(response).startswith("sk_agent_live_")
    assert "Support Assistant" in response.content.decode()
    runtime = ApiClient(secret_in(response))
    assert runtime.get("/t/acme-corp/api/v1/agents/me", REMOTE_ADDR="10.1.2.3").status_code == 200


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["no-js", "htmx"])
def test_after_creating_an_agent_the_form_is_blank_so_the_next_one_gets_no_roles(
    admin_client, role, headers
):
    response = admin_client.post(AGENTS, FORM, headers=headers)
    assert response.status_code == 201
    html = response.content.decode()
    assert 'value="support-agent">' in html  # offered again...
    assert 'value="support-agent" checked' not in html  # ...but not ticked
    assert 'id="agent-name" type="text" name="name" required maxlength="100" value=""' in html


def test_create_form_with_only_a_name_makes_an_unrestricted_service(admin_client):
    data = {"name": "worker", "type": "service", "description": "", "permissions": "",
            "allowedIps": "", "expiresIn": "", "rateLimitPerMinute": ""}  # fmt: skip
    assert admin_client.post(AGENTS, data).status_code == 201
    agent = Agent.objects.get()
    assert agent.permissions == [] and agent.allowed_ips is None and agent.expires_at is None
    assert agent.rate_limit_per_minute is None


def test_invalid_create_form_without_javascript_shows_the_errors_and_keeps_the_input(
    admin_client, role
):
    response = admin_client.post(AGENTS, {**FORM, "allowedIps": "10.0.0.999"})
    assert response.status_code == 400 and is_full_page(response)
    html = response.content.decode()
    assert "allowedIps" in html and "is not an IP address or CIDR" in html
    assert 'value="Support Assistant"' in html
    assert 'value="support-agent" checked' in html
    assert not Agent.objects.exists()


def test_invalid_create_form_with_htmx_goes_to_the_flash_area(admin_client):
    response = admin_client.post(AGENTS, {"name": "x", "type": "robot"}, headers=HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
    assert "type" in response.content.decode()


def test_duplicate_name_in_the_form_is_a_409(admin_client, agent):
    response = admin_client.post(AGENTS, {"name": "SUPPORT-BOT"}, headers=HTMX)
    assert response.status_code == 409
    assert "already exists" in response.content.decode()


def test_viewer_sees_no_create_form_and_cannot_post(viewer_client, agent):
    html = viewer_client.get(AGENTS).content.decode()
    assert "support-bot" in html
    assert "Create an agent" not in html and 'method="post"' not in html.split("</header>")[1]
    assert viewer_client.post(AGENTS, {"name": "x"}).status_code == 403
    assert Agent.objects.count() == 1


# --- agent page ---------------------------------------------------------------------------


def test_agent_page_shows_details_keys_access_grants_usage_and_events(
    admin_client, tenant, agent, made
):
    from agents import services
    from tests.agents.conftest import SYSTEM

    services.create_grant(
        tenant,
        SYSTEM,
        agent,
        permission="write:refunds",
        expires_at=timezone.now() + timezone.timedelta(minutes=5),
    )
    KeyUsage.objects.create(
        tenant=tenant, key=made[1], agent=agent, date=timezone.now().date(), count=7
    )
    response = admin_client.get(f"{AGENTS}/{agent.pk}")
    assert response.status_code == 200 and is_full_page(response)
    html = response.content.decode()
    for dom_id in ("agent-summary", "agent-keys", "agent-access", "agent-activity"):
        assert f'id="{dom_id}"' in html
    assert "Answers tickets" in html and made[1].prefix in html
    assert "<code>role:support-agent</code>" in html and "<code>direct</code>" in html
    assert "<code>grant:" in html and "data-countdown" in html
    assert '<rect class="bar"' in html and 'data-count="7"' in html
    assert "7 requests in the last 30 days" in html
    assert 'data-action="agent.created"' in html and 'data-action="grant.created"' in html
    assert made[2] not in html


def test_agent_page_fragment_for_htmx_is_the_summary(admin_client, agent):
    response = admin_client.get(f"{AGENTS}/{agent.pk}", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response, "agent-summary")
    assert 'id="agent-keys"' not in response.content.decode()


def test_agent_page_of_another_tenant_is_a_404(outsider_client, admin_client, agent, foreign_agent):
    assert outsider_client.get(f"{AGENTS}/{agent.pk}").status_code == 404
    assert admin_client.get(f"{AGENTS}/{foreign_agent.pk}").status_code == 404
    assert admin_client.get(f"{AGENTS}/{foreign_agent.pk}", headers=HTMX).status_code == 404
    assert admin_client.get(f"{AGENTS}/not-a-uuid").status_code == 404


def test_viewer_sees_the_agent_page_without_action_buttons(viewer_client, agent):
    html = viewer_client.get(f"{AGENTS}/{agent.pk}").content.decode()
    assert "support-bot" in html
    for label in ("Deactivate agent", "Save changes", "Delete agent", "Mint key", "Rotate",
                  "Revoke key", "Add grant"):  # fmt: skip
        assert label not in html
    assert viewer_client.post(f"{AGENTS}/{agent.pk}/deactivate").status_code == 403
    assert viewer_client.post(f"{AGENTS}/{agent.pk}", {"name": "x"}).status_code == 403
    agent.refresh_from_db()
    assert agent.is_active and agent.name == "support-bot"


# --- edit ---------------------------------------------------------------------------------


def edit_form(agent, **changes):
    data = {
        "name": agent.name,
        "type": agent.type,
        "description": agent.description,
        "roles": ["", *[r.slug for r in agent.roles.all()]],
        "permissions": ", ".join(agent.permissions),
        "allowedIps": "",
        "expiresAt": "",
        "rateLimitPerMinute": "",
    }
    data.update(changes)
    return data


def test_edit_form_without_javascript_saves_and_redirects(admin_client, tenant, agent):
    response = admin_client.post(
        f"{AGENTS}/{agent.pk}", edit_form(agent, description="Changed", roles=[""])
    )
    assert response.status_code == 303
    assert response["Location"] == f"{AGENTS}/{agent.pk}"
    agent.refresh_from_db()
    assert agent.description == "Changed"
    assert list(agent.roles.all()) == []  # all boxes unchecked: the hidden marker clears them
    page = admin_client.get(response["Location"]).content.decode()
    assert "Agent “support-bot” saved." in page


def test_edit_form_with_htmx_returns_the_summary(admin_client, agent):
    response = admin_client.post(
        f"{AGENTS}/{agent.pk}", edit_form(agent, name="renamed"), headers=HTMX
    )
    assert response.status_code == 200 and is_fragment(response, "agent-summary")
    assert "renamed" in response.content.decode()


def test_edit_form_keeps_an_expiry_it_shows(admin_client, agent):
    later = (timezone.now() + timezone.timedelta(days=3)).replace(microsecond=0)
    admin_client.post(
        f"{AGENTS}/{agent.pk}", edit_form(agent, expiresAt=later.strftime("%Y-%m-%dT%H:%M:%S"))
    )
    agent.refresh_from_db()
    assert agent.expires_at == later
    html = admin_client.get(f"{AGENTS}/{agent.pk}").content.decode()
    shown = re.search(r'name="expiresAt" value="([^"]+)"', html).group(1)
    admin_client.post(f"{AGENTS}/{agent.pk}", edit_form(agent, expiresAt=shown, description="x"))
    agent.refresh_from_db()
    assert agent.expires_at == later


def test_an_expired_agents_edit_form_saves(admin_client, agent):
    past = (timezone.now() - timezone.timedelta(days=1)).replace(microsecond=0)
    Agent.objects.filter(pk=agent.pk).update(expires_at=past)
    html = admin_client.get(f"{AGENTS}/{agent.pk}").content.decode()
    shown = re.search(r'name="expiresAt" value="([^"]+)"', html).group(1)
    response = admin_client.post(
        f"{AGENTS}/{agent.pk}", edit_form(agent, expiresAt=shown, description="Retired")
    )
    assert response.status_code == 303
    agent.refresh_from_db()
    assert (agent.description, agent.expires_at) == ("Retired", past)


def test_edit_of_another_tenants_agent_is_a_404(
    outsider_client, admin_client, agent, foreign_agent
):
    assert (
        outsider_client.post(f"{AGENTS}/{agent.pk}", edit_form(agent, name="x")).status_code == 404
    )
    response = admin_client.post(f"{AGENTS}/{foreign_agent.pk}", {"name": "x"}, headers=HTMX)
    assert response.status_code == 404


def test_portal_refuses_put_and_delete_methods(admin_client, agent):
    assert admin_client.delete(f"{AGENTS}/{agent.pk}").status_code == 405
    assert Agent.objects.filter(pk=agent.pk).exists()


# --- status -------------------------------------------------------------------------------


def test_deactivate_without_javascript_redirects_and_shows_the_status(admin_client, agent, made):
    response = admin_client.post(f"{AGENTS}/{agent.pk}/deactivate")
    assert response.status_code == 303
    page = admin_client.get(response["Location"]).content.decode()
    assert 'id="agent-status" class="status status-inactive">inactive<' in page
    assert "Activate agent" in page
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 401


def test_deactivate_and_activate_with_htmx_swap_the_summary(admin_client, agent):
    off = admin_client.post(f"{AGENTS}/{agent.pk}/deactivate", headers=HTMX)
    assert off.status_code == 200 and is_fragment(off, "agent-summary")
    assert "status-inactive" in off.content.decode()
    on = admin_client.post(f"{AGENTS}/{agent.pk}/activate", headers=HTMX)
    assert "status-active" in on.content.decode()
    again = admin_client.post(f"{AGENTS}/{agent.pk}/activate", headers=HTMX)
    assert again.status_code == 409 and again["HX-Retarget"] == "#flash"


def test_status_actions_on_another_tenants_agent_are_404(
    outsider_client, admin_client, agent, foreign_agent
):
    assert outsider_client.post(f"{AGENTS}/{agent.pk}/deactivate").status_code == 404
    assert admin_client.post(f"{AGENTS}/{foreign_agent.pk}/deactivate").status_code == 404
    assert admin_client.post(f"{AGENTS}/{agent.pk}/explode").status_code == 404
    foreign_agent.refresh_from_db()
    assert foreign_agent.is_active


def test_delete_from_the_page_asks_for_confirmation_then_deletes(admin_client, agent):
    html = admin_client.get(f"{AGENTS}/{agent.pk}").content.decode()
    assert "<summary>Delete…</summary>" in html and "with its 1 key" in html
    assert 'name="confirm"' in html and "Type the agent's name" in html
    response = admin_client.post(f"{AGENTS}/{agent.pk}/delete", {"confirm": agent.name})
    assert response.status_code == 303 and response["Location"] == AGENTS
    assert not Agent.objects.exists() and not ApiKey.objects.exists()
    assert "and its keys deleted" in admin_client.get(AGENTS).content.decode()


def test_delete_with_htmx_returns_the_table(admin_client, agent):
    response = admin_client.post(
        f"{AGENTS}/{agent.pk}/delete", {"confirm": agent.name}, headers=HTMX
    )
    assert response.status_code == 200 and is_fragment(response, "agent-table")
    assert not Agent.objects.exists()


@pytest.mark.parametrize("typed", [None, "", "someone-else", "SUPPORT-BOT"])
def test_delete_from_the_page_needs_the_agent_name_typed(admin_client, agent, typed):
    body = {} if typed is None else {"confirm": typed}
    response = admin_client.post(f"{AGENTS}/{agent.pk}/delete", body)
    assert response.status_code == 400
    assert "Type the agent" in response.content.decode()
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_delete_of_another_tenants_agent_is_a_404(
    admin_client, outsider_client, agent, foreign_agent
):
    assert admin_client.post(f"{AGENTS}/{foreign_agent.pk}/delete").status_code == 404
    assert outsider_client.post(f"{AGENTS}/{agent.pk}/delete").status_code == 404
    assert Agent.objects.count() == 2


# --- keys ---------------------------------------------------------------------------------


def test_keys_page_and_fragment(admin_client, agent, made):
    page = admin_client.get(f"{AGENTS}/{agent.pk}/keys")
    assert page.status_code == 200 and is_full_page(page)
    fragment = admin_client.get(f"{AGENTS}/{agent.pk}/keys", headers=HTMX)
    assert is_fragment(fragment, "agent-keys") and made[1].prefix in fragment.content.decode()


def test_mint_another_key_from_the_page_shows_it_once(admin_client, agent):
    response = admin_client.post(f"{AGENTS}/{agent.pk}/keys", {"name": "worker-2", "expiresIn": ""})
    assert response.status_code == 201 and is_full_page(response)
    assert response["Cache-Control"] == "no-store"
    secret = secret_in(response)
    assert ApiClient(secret).get("/t/acme-corp/api/v1/agents/me").status_code == 200
    fragment = admin_client.post(f"{AGENTS}/{agent.pk}/keys", {"name": "w3"}, headers=HTMX)
    assert fragment.status_code == 201 and is_fragment(fragment, "agent-keys")
    assert secret_in(fragment) != secret
    assert secret not in admin_client.get(f"{AGENTS}/{agent.pk}").content.decode()


def test_rotate_all_from_the_page_with_grace(admin_client, agent, made):
    response = admin_client.post(
        f"{AGENTS}/{agent.pk}/rotate-key",
        {"gracePeriod": "3600", "confirm": agent.name},
        headers=HTMX,
    )
    assert response.status_code == 201 and is_fragment(response, "agent-keys")
    assert response["Cache-Control"] == "no-store"
    new = secret_in(response)
    assert ApiClient(new).get("/t/acme-corp/api/v1/agents/me").status_code == 200
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 200
    made[1].refresh_from_db()
    assert made[1].status == "deprecated"
    assert "keeps working until" in response.content.decode()


def test_rotate_all_from_the_page_needs_the_name_and_starts_on_a_grace_period(
    admin_client, agent, made
):
    html = admin_client.get(f"{AGENTS}/{agent.pk}").content.decode()
    assert "<summary>Rotate all keys…</summary>" in html  # behind a disclosure, not one click
    assert '<option value="86400" selected>24 hours</option>' in html
    assert '<option value="0">Immediately</option>' in html
    refused = admin_client.post(f"{AGENTS}/{agent.pk}/rotate-key", {"gracePeriod": "0"})
    assert refused.status_code == 400
    assert "Type the agent" in refused.content.decode()
    assert not ApiKey.objects.filter(rotated_from__isnull=False).exists()
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 200


def test_rotate_all_through_the_api_needs_no_confirmation(agent, made, api):
    response = api.post(f"/t/acme-corp/api/v1/admin/agents/{agent.pk}/rotate-key", {})
    assert response.status_code == 201
    assert (
        api.post(
            f"/t/acme-corp/api/v1/admin/agents/{agent.pk}/rotate-key", {"confirm": agent.name}
        ).status_code
        == 400
    )  # not a field of the SPEC's body


def test_rotate_one_key_from_the_page_without_javascript(admin_client, agent, made):
    response = admin_client.post(
        f"{AGENTS}/{agent.pk}/keys/{made[1].pk}/rotate", {"gracePeriod": "0"}
    )
    assert response.status_code == 201 and is_full_page(response)
    assert secret_in(response).startswith("sk_agent_live_")
    assert f"The old key <code>{made[1].prefix}</code> is revoked." in response.content.decode()
    assert ApiClient(made[2]).get("/t/acme-corp/api/v1/agents/me").status_code == 401


@pytest.mark.parametrize("action, status", [("deprecate", "deprecated"), ("revoke", "revoked")])
def test_key_actions_from_the_page(admin_client, agent, made, action, status):
    response = admin_client.post(f"{AGENTS}/{agent.pk}/keys/{made[1].pk}/{action}")
    assert response.status_code == 303 and response["Location"] == f"{AGENTS}/{agent.pk}"
    made[1].refresh_from_db()
    assert made[1].status == status


def test_key_actions_with_htmx_re_render_the_keys_fragment(admin_client, agent, made):
    base = f"{AGENTS}/{agent.pk}/keys/{made[1].pk}"
    response = admin_client.post(f"{base}/deprecate", headers=HTMX)
    assert is_fragment(response, "agent-keys") and "status-deprecated" in response.content.decode()
    response = admin_client.post(f"{base}/activate", headers=HTMX)
    assert "status-active" in response.content.decode()
    response = admin_client.post(f"{base}/delete", headers=HTMX)
    assert response.status_code == 200 and is_fragment(response, "agent-keys")
    table, flash = response.content.decode().split('<div id="flash"')
    assert made[1].prefix not in table
    assert f"Key {made[1].prefix} deleted." in flash  # said beside the fragment, out of band
    assert not ApiKey.objects.filter(pk=made[1].pk).exists()


def test_key_actions_on_another_tenants_or_agents_key_are_404(
    admin_client, outsider_client, tenant, agent, made, foreign_agent
):
    other = make_agent(tenant, name="other")
    assert admin_client.post(f"{AGENTS}/{agent.pk}/keys/{other[1].pk}/revoke").status_code == 404
    assert outsider_client.post(f"{AGENTS}/{agent.pk}/keys/{made[1].pk}/revoke").status_code == 404
    foreign_key = foreign_agent.keys.get()
    assert (
        admin_client.post(f"{AGENTS}/{foreign_agent.pk}/keys/{foreign_key.pk}/revoke").status_code
        == 404
    )
    assert outsider_client.post(f"{AGENTS}/{agent.pk}/rotate-key").status_code == 404
    assert outsider_client.get(f"{AGENTS}/{agent.pk}/keys").status_code == 404
    assert outsider_client.post(f"{AGENTS}/{agent.pk}/keys", {"name": "x"}).status_code == 404
    assert ApiKey.objects.filter(status="revoked").count() == 0


def test_agent_keys_show_on_the_api_keys_page_with_the_kind_filter(admin_client, admin_key, made):
    page = "/t/acme-corp/portal/settings/api-keys"
    agent_only = admin_client.get(f"{page}?kind=agent").content.decode()
    assert made[1].prefix in agent_only and admin_key[0].prefix not in agent_only
    admin_only = admin_client.get(f"{page}?kind=admin").content.decode()
    assert admin_key[0].prefix in admin_only and made[1].prefix not in admin_only
