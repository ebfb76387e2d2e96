"""The portal's side of OAuth (issue 8): the agent page's "OAuth client" panel with a curl line
that pastes and runs, its confirmed "Revoke all tokens", and the overview's tokens-issued-today."""

import datetime as dt
import html
import json
import re
import subprocess

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from oauth.models import AccessToken
from tests.agents.conftest import make_agent
from tests.conftest import login, make_member
from tests.oauth.conftest import API, bearer, get_token

PORTAL = "/t/acme-corp/portal"


def page_of(client, agent):
    response = client.get(f"{PORTAL}/agents/{agent.pk}")
    assert response.status_code == 200
    return response.content.decode()


def curl_line(page: str) -> str:
    return html.unescape(re.search(r'<textarea id="oauth-curl"[^>]*>([^<]*)</textarea>', page)[1])


def panel(page: str) -> str:
    return re.search(r'<section id="agent-oauth".*?</section>', page, re.S)[0]


def test_the_agent_page_shows_the_oauth_client(admin_client, made, issued, settings):
    agent = made[0]
    shown = panel(page_of(admin_client, agent))
    assert f'<code id="oauth-client-id">{agent.pk}</code>' in shown
    token_url = f"{settings.PUBLIC_URL}/t/acme-corp/api/v1/oauth/token"
    assert f'<code id="oauth-token-url">{token_url}</code>' in shown
    assert "1 hour, never past the key" in shown
    assert '<dd id="oauth-live-tokens">1</dd>' in shown
    assert curl_line(shown) == (
        f'curl -s -u "{agent.pk}:$TESSERA_KEY" -d grant_type=client_credentials {token_url}'
    )
    assert "Revoke all tokens of" in shown
    assert made[2] not in shown  # the key itself is never on the page


def test_the_token_lifetime_follows_the_setting(admin_client, made, settings):
    settings.OAUTH_ACCESS_TOKEN_SECONDS = 900
    assert "15 minutes, never past the key" in panel(page_of(admin_client, made[0]))


def test_a_viewer_sees_the_panel_but_no_revoke_action(viewer_client, made, issued):
    shown = panel(page_of(viewer_client, made[0]))
    assert "oauth-client-id" in shown and "Revoke all tokens" not in shown
    url = f"{PORTAL}/agents/{made[0].pk}/revoke-tokens"
    assert viewer_client.post(url).status_code == 403
    assert (
        Client().get(f"{API}/agents/me", headers=bearer(issued["access_token"])).status_code == 200
    )


def test_revoke_all_tokens_from_the_page_ends_them_and_is_audited(admin_client, made, issued):
    agent = made[0]
    url = f"{PORTAL}/agents/{agent.pk}/revoke-tokens"
    response = admin_client.post(url)
    assert response.status_code == 303 and response["Location"] == f"{PORTAL}/agents/{agent.pk}"
    me = Client().get(f"{API}/agents/me", headers=bearer(issued["access_token"]))
    assert me.status_code == 401
    event = AuditEvent.objects.get(action="oauth.tokens_revoked")
    assert event.actor_type == "user" and event.target_id == str(agent.pk)
    shown = page_of(admin_client, agent)
    assert "Every token of “support-bot” revoked (1 grant)." in shown
    assert '<dd id="oauth-live-tokens">0</dd>' in shown
    # The agent's keys keep working and mint new tokens.
    assert get_token(str(agent.pk), made[2]).status_code == 200


def test_revoke_all_tokens_with_htmx_answers_the_panel(admin_client, made, issued, htmx_headers):
    response = admin_client.post(
        f"{PORTAL}/agents/{made[0].pk}/revoke-tokens", headers=htmx_headers
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="agent-oauth"')
    assert '<dd id="oauth-live-tokens">0</dd>' in body
    assert "revoked (1 grant)" in body  # the flash, out of band


def test_another_tenants_agent_has_no_panel_and_no_revoke(admin_client, other_tenant):
    foreign = make_agent(other_tenant, name="theirs")[0]
    assert admin_client.get(f"{PORTAL}/agents/{foreign.pk}").status_code == 404
    assert admin_client.post(f"{PORTAL}/agents/{foreign.pk}/revoke-tokens").status_code == 404


@pytest.fixture
def served_agent(live_server, settings, transactional_db):
    from tenants.models import Tenant

    settings.PUBLIC_URL = live_server.url
    tenant = Tenant.objects.create(slug="acme-corp", name="Acme Corp")
    return tenant, make_agent(tenant, permissions=["read:reports"])


def test_the_curl_line_pastes_and_runs(served_agent):
    tenant, (agent, _, secret) = served_agent
    line = curl_line(page_of(login(make_member(tenant, "admin@acme.test", "admin")), agent))
    ran = subprocess.run(  # noqa: S603 (the page's own line, run as a user would)
        ["bash", "-c", line],
        env={"PATH": "/usr/bin:/bin", "TESSERA_KEY": secret},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(ran.stdout)
    assert answer["token_type"] == "Bearer" and answer["scope"] == "read:reports"
    assert Client().get(f"{API}/agents/me", headers=bearer(answer["access_token"])).json()[
        "id"
    ] == str(agent.pk)


def test_the_overview_counts_tokens_issued_today(viewer_client, made, other_tenant, monkeypatch):
    # "Today" is a UTC date: the clock stands still at noon, so issuing and counting never
    # straddle a midnight whenever the test runs.
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: noon)
    client_id, secret = str(made[0].pk), made[2]
    for _ in range(3):
        assert get_token(client_id, secret).status_code == 200
    yesterday = AccessToken.objects.order_by("issued_at").first()
    yesterday.issued_at = timezone.now().replace(
        hour=0, minute=0, second=0, microsecond=0
    ) - dt.timedelta(seconds=1)
    yesterday.save()
    theirs, _, their_secret = make_agent(other_tenant, name="theirs")
    assert get_token(str(theirs.pk), their_secret, tenant=other_tenant.slug).status_code == 200

    response = viewer_client.get(f"{PORTAL}/")
    assert response.context["counts"]["tokens_today"] == 2
    assert '<div class="stat" id="tokens-today">2</div>' in response.content.decode()
