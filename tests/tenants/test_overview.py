"""The overview page: counts, what expires within 14 days, deprecated keys still in use, recent
events. Page, HTMX fragment, (no JSON mount), another tenant (404); fixed query count."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.actor import Actor
from agents.models import Agent, Role
from apikeys import services as key_services
from apikeys.models import ApiKey
from audit.services import record
from tests.conftest import HTMX

pytestmark = pytest.mark.django_db

PAGE = "/t/acme-corp/portal/"
SHELL = Actor.system("tests")


def mint(tenant, name, **kwargs):
    return key_services.mint_key(tenant, SHELL, name=name, **kwargs)[0]


def in_days(days):
    return timezone.now() + dt.timedelta(days=days)


def section(html, heading_id):
    """The HTML of one overview section, from its heading to the next section."""
    start = html.index(f'id="{heading_id}"')
    end = html.find("<section", start)
    return html[start : end if end != -1 else len(html)]


def test_overview_counts_agents_active_keys_roles_and_members(viewer_client, tenant, owner):
    Agent.objects.create(tenant=tenant, name="support-bot")
    Agent.objects.create(tenant=tenant, name="billing-bot")
    Role.objects.create(tenant=tenant, slug="reader", name="Reader")
    mint(tenant, "live")
    mint(tenant, "deprecated-one")
    key_services.deprecate_key(tenant, SHELL, tenant.api_keys.get(name="deprecated-one"))
    key_services.revoke_key(tenant, SHELL, mint(tenant, "revoked-one"))
    response = viewer_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    ctx = response.context
    assert ctx["counts"] == {
        "agents": 2,
        "active_keys": 1,
        "deprecated_keys": 1,
        "roles": 1,
        "members": 2,
        "tokens_today": 0,
    }
    assert '<div class="stat">2</div><a href="/t/acme-corp/portal/agents">Agents</a>' in html


def test_overview_lists_keys_and_agents_expiring_within_14_days(viewer_client, tenant):
    mint(tenant, "soon-key", expires_at=in_days(3))
    mint(tenant, "later-key", expires_at=in_days(30))
    mint(tenant, "forever-key")
    key_services.revoke_key(tenant, SHELL, mint(tenant, "revoked-soon", expires_at=in_days(2)))
    Agent.objects.create(tenant=tenant, name="soon-agent", expires_at=in_days(5))
    Agent.objects.create(tenant=tenant, name="later-agent", expires_at=in_days(20))
    Agent.objects.create(tenant=tenant, name="gone-agent", expires_at=in_days(-1))
    html = viewer_client.get(PAGE).content.decode()
    keys = section(html, "h-expiring-keys")
    assert "soon-key" in keys
    assert "later-key" not in keys and "forever-key" not in keys and "revoked-soon" not in keys
    agents = section(html, "h-expiring-agents")
    assert "soon-agent" in agents
    assert "later-agent" not in agents and "gone-agent" not in agents


def test_overview_lists_deprecated_keys_used_after_deprecation(viewer_client, tenant):
    used = mint(tenant, "still-used")
    unused = mint(tenant, "quiet")
    before = mint(tenant, "used-before")
    for key in (used, unused, before):
        key_services.deprecate_key(tenant, SHELL, key)
    ApiKey.objects.filter(pk=used.pk).update(
        last_used_at=timezone.now() + dt.timedelta(seconds=5), last_used_ip="203.0.113.5"
    )
    ApiKey.objects.filter(pk=before.pk).update(last_used_at=timezone.now() - dt.timedelta(days=1))
    html = viewer_client.get(PAGE).content.decode()
    deprecated = section(html, "h-deprecated")
    assert "still-used" in deprecated and "203.0.113.5" in deprecated
    assert "quiet" not in deprecated and "used-before" not in deprecated


def test_overview_shows_the_ten_most_recent_events(viewer_client, tenant):
    for i in range(12):
        record(tenant, SHELL, "agent.updated", target=("agent", str(i), f"bot-{i:02d}"))
    html = section(viewer_client.get(PAGE).content.decode(), "h-recent")
    assert html.count('<tr class="event"') == 10
    assert "bot-11" in html and "bot-02" in html and "bot-01" not in html
    assert 'href="/t/acme-corp/portal/audit-log"' in html


def test_overview_fragment_for_htmx(viewer_client, tenant):
    mint(tenant, "live")
    response = viewer_client.get(PAGE, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="overview">')


def test_overview_is_not_served_on_the_json_api(api):
    assert api.get("/t/acme-corp/api/v1/").status_code == 404


def test_overview_of_another_tenant_is_404(outsider_client, tenant):
    assert outsider_client.get(PAGE).status_code == 404
    assert outsider_client.get(PAGE, headers=HTMX).status_code == 404


def test_overview_of_an_unknown_tenant_is_404(viewer_client):
    assert viewer_client.get("/t/no-such-tenant/portal/").status_code == 404


def count_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(PAGE).status_code == 200
    return len(ctx.captured_queries)


def fill(tenant, n, start):
    for i in range(start, start + n):
        agent = Agent.objects.create(tenant=tenant, name=f"agent-{i}", expires_at=in_days(3))
        key = key_services.mint_key(
            tenant, SHELL, name=f"key-{i}", agent=agent, expires_at=in_days(2)
        )[0]
        key_services.deprecate_key(tenant, SHELL, key)
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=in_days(1))


def test_overview_costs_the_same_queries_at_1_and_50_rows(viewer_client, tenant):
    fill(tenant, 1, 0)
    one = count_queries(viewer_client)
    fill(tenant, 49, 1)
    fifty = count_queries(viewer_client)
    assert one == fifty
