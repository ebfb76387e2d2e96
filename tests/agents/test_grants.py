"""Just-in-time grants: create (permission, duration, reason), list, read, revoke — as JSON, page,
HTMX fragment and from another tenant — and their effect on the access set."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from agents import services
from agents.models import Grant
from tests.agents.conftest import ADMIN, PORTAL, SYSTEM, is_fragment, is_full_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def grant(tenant, agent):
    return services.create_grant(
        tenant,
        SYSTEM,
        agent,
        permission="write:refunds",
        expires_at=timezone.now() + dt.timedelta(minutes=10),
        reason="ticket 42",
    )


def api_url(agent, rest=""):
    return f"{ADMIN}/agents/{agent.pk}/grants{rest}"


def page_url(agent, rest=""):
    return f"{PORTAL}/agents/{agent.pk}/grants{rest}"


# --- JSON ---------------------------------------------------------------------------------


def test_create_grant_with_duration_and_reason(api, tenant, agent):
    response = api.post(
        api_url(agent), {"permission": "write:refunds", "expiresIn": 60, "reason": "ticket 42"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["permission"] == "write:refunds" and body["reason"] == "ticket 42"
    assert body["agentId"] == str(agent.pk) and body["expired"] is False
    expires = dt.datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert dt.timedelta(seconds=55) < expires - timezone.now() <= dt.timedelta(seconds=60)
    assert body["grantedBy"]["type"] == "api_key"
    event = tenant.audit_events.get(action="grant.created")
    assert event.target_id == body["id"]
    assert event.metadata["permission"] == "write:refunds"
    assert event.metadata["agentId"] == str(agent.pk)


def test_grant_without_expiry_is_permanent(api, agent):
    body = api.post(api_url(agent), {"permission": "read:logs"}).json()
    assert body["expiresAt"] is None


def test_grant_with_an_absolute_expiry(api, agent):
    at = (timezone.now() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = api.post(api_url(agent), {"permission": "read:logs", "expiresAt": at}).json()
    assert body["expiresAt"] == at.replace("Z", ".000Z")


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "permission"),
        ({"permission": "refunds"}, "permission"),
        ({"permission": "WRITE:refunds"}, "permission"),
        ({"permission": 7}, "permission"),
        ({"permission": "read:x", "expiresIn": 0}, "expiresIn"),
        ({"permission": "read:x", "expiresAt": "2000-01-01T00:00:00Z"}, "expiresAt"),
        (
            {"permission": "read:x", "expiresAt": "2999-01-01T00:00:00Z", "expiresIn": 5},
            "expiresIn",
        ),
        ({"permission": "read:x", "agent": "me"}, "agent"),
    ],
)
def test_invalid_grant_is_a_400_and_creates_nothing(api, agent, body, field):
    response = api.post(api_url(agent), body)
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not Grant.objects.exists()


def test_list_and_read_grants(api, agent, grant):
    body = api.get(api_url(agent)).json()
    assert set(body) == {"data", "hasMore", "nextCursor"}
    assert [g["id"] for g in body["data"]] == [str(grant.pk)]
    one = api.get(api_url(agent, f"/{grant.pk}"))
    assert one.status_code == 200 and one.json()["permission"] == "write:refunds"


def test_expired_grants_are_listed_as_expired(api, agent, grant):
    Grant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert api.get(api_url(agent)).json()["data"][0]["expired"] is True


def test_revoke_grant_with_delete(api, tenant, agent, grant):
    response = api.delete(api_url(agent, f"/{grant.pk}"))
    assert response.status_code == 204
    assert not Grant.objects.exists()
    event = tenant.audit_events.get(action="grant.revoked")
    assert event.target_id == str(grant.pk) and event.metadata["permission"] == "write:refunds"
    assert api.delete(api_url(agent, f"/{grant.pk}")).status_code == 404


def test_grants_need_the_agents_scopes(tenant, agent, grant):
    from tests.conftest import ApiClient, mint_admin_key

    reader = ApiClient(mint_admin_key(tenant, scopes=["agents:read"])[1])
    assert reader.get(api_url(agent)).status_code == 200
    assert reader.post(api_url(agent), {"permission": "read:x"}).status_code == 403
    assert reader.delete(api_url(agent, f"/{grant.pk}")).status_code == 403
    roles_only = ApiClient(mint_admin_key(tenant, scopes=["roles:write"])[1])
    assert roles_only.get(api_url(agent)).status_code == 403


def test_grants_of_another_tenant_are_404(api, other_tenant, agent, foreign_agent):
    foreign = services.create_grant(other_tenant, SYSTEM, foreign_agent, permission="read:x")
    assert api.get(api_url(foreign_agent)).status_code == 404
    assert api.get(api_url(agent, f"/{foreign.pk}")).status_code == 404
    assert api.delete(api_url(agent, f"/{foreign.pk}")).status_code == 404
    assert api.delete(api_url(foreign_agent, f"/{foreign.pk}")).status_code == 404
    assert Grant.objects.filter(pk=foreign.pk).exists()


def test_a_grant_of_another_agent_is_a_404_under_this_agent(api, tenant, agent, grant):
    from tests.agents.conftest import make_agent

    other = make_agent(tenant, name="other")[0]
    assert api.delete(api_url(other, f"/{grant.pk}")).status_code == 404


# --- pages --------------------------------------------------------------------------------


def test_grants_page_and_fragment(admin_client, agent, grant):
    page = admin_client.get(page_url(agent))
    assert page.status_code == 200 and is_full_page(page)
    fragment = admin_client.get(page_url(agent), headers={"HX-Request": "true"})
    assert is_fragment(fragment, "agent-access")
    html = fragment.content.decode()
    assert "write:refunds" in html and "ticket 42" in html
    countdown = re.search(r'<time datetime="([^"]+)" title="[^"]+" data-countdown>', html)[1]
    assert countdown.endswith("Z")
    assert countdown == grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    one = admin_client.get(page_url(agent, f"/{grant.pk}"), headers={"HX-Request": "true"})
    assert one.status_code == 200 and is_fragment(one, "agent-access")


def test_add_grant_from_the_page_without_javascript(admin_client, agent):
    response = admin_client.post(
        page_url(agent), {"permission": "write:refunds", "expiresIn": "60", "reason": "on call"}
    )
    assert response.status_code == 303 and response["Location"] == f"{PORTAL}/agents/{agent.pk}"
    grant = Grant.objects.get()
    assert grant.reason == "on call" and grant.expires_at is not None
    page = admin_client.get(response["Location"]).content.decode()
    assert "Granted write:refunds" in page


def test_add_grant_with_htmx_re_renders_access_and_grants(admin_client, agent):
    response = admin_client.post(
        page_url(agent), {"permission": "write:refunds", "expiresIn": "", "reason": ""},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 201 and is_fragment(response, "agent-access")
    html = response.content.decode()
    grant = Grant.objects.get()
    assert grant.expires_at is None
    assert f"<code>grant:{grant.pk}</code>" in html


def test_invalid_grant_from_the_page_shows_the_error(admin_client, agent):
    response = admin_client.post(page_url(agent), {"permission": "nope", "expiresIn": "60"})
    assert response.status_code == 400 and is_full_page(response)
    assert "not a permission" in response.content.decode()


def test_revoke_grant_from_the_page(admin_client, agent, grant):
    html = admin_client.get(f"{PORTAL}/agents/{agent.pk}").content.decode()
    action = f'action="{page_url(agent, f"/{grant.pk}/revoke")}"'
    assert action in html
    # The confirmation is a disclosure the admin opens first, so it works without JavaScript
    # (hx-confirm only asked when JavaScript ran).
    disclosures = re.findall(r"<details>\s*<summary>Revoke…</summary>\s*<form[^>]*>", html)
    assert [d for d in disclosures if action in d]
    assert "hx-confirm=" not in html
    response = admin_client.post(page_url(agent, f"/{grant.pk}/revoke"))
    assert response.status_code == 303
    assert not Grant.objects.exists()


def test_revoke_grant_with_htmx(admin_client, agent, grant):
    response = admin_client.post(
        page_url(agent, f"/{grant.pk}/revoke"), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and is_fragment(response, "agent-access")
    assert f'data-grant-id="{grant.pk}"' not in response.content.decode()


def test_grant_pages_of_another_tenant_are_404(
    outsider_client, admin_client, other_tenant, agent, grant, foreign_agent
):
    assert outsider_client.get(page_url(agent)).status_code == 404
    assert outsider_client.post(page_url(agent), {"permission": "read:x"}).status_code == 404
    assert outsider_client.post(page_url(agent, f"/{grant.pk}/revoke")).status_code == 404
    foreign = services.create_grant(other_tenant, SYSTEM, foreign_agent, permission="read:x")
    assert admin_client.post(page_url(foreign_agent, f"/{foreign.pk}/revoke")).status_code == 404
    assert admin_client.post(page_url(agent, f"/{foreign.pk}/revoke")).status_code == 404
    assert Grant.objects.count() == 2


def test_viewer_cannot_add_or_revoke_grants(viewer_client, agent, grant):
    assert viewer_client.post(page_url(agent), {"permission": "read:x"}).status_code == 403
    assert viewer_client.post(page_url(agent, f"/{grant.pk}/revoke")).status_code == 403
    assert Grant.objects.count() == 1
