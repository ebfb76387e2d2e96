"""Pages and lists issue a fixed number of queries whatever the number of rows: the agents list
(page and JSON) at 1 and 50 agents with keys, roles and grants; the agent page at 1 and 50 keys
and grants; the roles page at 1 and 50 holders."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import services
from apikeys.models import KeyUsage
from audit.models import AuditEvent
from tests.agents.conftest import ADMIN, PORTAL, SYSTEM, make_agent, make_role

pytestmark = pytest.mark.django_db


def seed_agents(tenant, count):
    make_role(tenant, slug="ops", permissions=["read:logs"])
    for i in range(count):
        agent = make_agent(tenant, name=f"agent-{i:02}", roles=["support-agent", "ops"])[0]
        services.mint_agent_key(tenant, SYSTEM, agent, name="second")
        services.create_grant(
            tenant, SYSTEM, agent, permission="write:refunds",
            expires_at=timezone.now() + dt.timedelta(hours=1),
        )  # fmt: skip


def count_queries(client, url, **kwargs):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **kwargs)
    assert response.status_code == 200
    return len(ctx), response


@pytest.mark.parametrize(
    "path, client_name",
    [(f"{PORTAL}/agents", "admin_client"), (f"{ADMIN}/agents", "api")],
)
def test_agents_list_queries_do_not_grow_with_agents(request, tenant, role, path, client_name):
    client = request.getfixturevalue(client_name)
    seed_agents(tenant, 1)
    one, _ = count_queries(client, path)
    seed_agents_more = 49
    for i in range(seed_agents_more):
        agent = make_agent(tenant, name=f"more-{i:02}", roles=["support-agent"])[0]
        services.mint_agent_key(tenant, SYSTEM, agent, name="second")
        services.create_grant(tenant, SYSTEM, agent, permission="read:x")
    fifty, response = count_queries(client, path)
    assert fifty == one
    assert one <= 8
    if client_name == "api":
        assert len(response.json()["data"]) == 50
    else:
        assert response.content.decode().count('class="agent-row"') == 50


def test_agent_page_queries_do_not_grow_with_keys_grants_and_events(admin_client, tenant, made):
    agent = made[0]
    url = f"{PORTAL}/agents/{agent.pk}"
    one, _ = count_queries(admin_client, url)
    today = timezone.now().date()
    for i in range(49):
        key = services.mint_agent_key(tenant, SYSTEM, agent, name=f"k{i}")[0]
        services.create_grant(tenant, SYSTEM, agent, permission=f"read:thing-{i}")
        KeyUsage.objects.create(
            tenant=tenant, key=key, agent=agent, date=today - dt.timedelta(days=i % 30), count=i
        )
    fifty, response = count_queries(admin_client, url)
    assert fifty == one
    assert one <= 13  # 11, the OAuth panel's count of live tokens, the pending requests
    html = response.content.decode()
    assert html.count('class="key-row"') == 50
    assert html.count('class="grant-row"') == 49
    assert html.count('class="event"') == 20
    assert AuditEvent.objects.count() > 20


def test_runtime_me_queries_do_not_grow_with_keys(tenant, made, agent_api):
    one, _ = count_queries(agent_api, "/t/acme-corp/api/v1/agents/me")
    for i in range(49):
        services.mint_agent_key(tenant, SYSTEM, made[0], name=f"k{i}")
    fifty, response = count_queries(agent_api, "/t/acme-corp/api/v1/agents/me")
    assert fifty == one and len(response.json()["keys"]) == 50


def test_roles_page_queries_do_not_grow_with_roles_and_holders(admin_client, tenant, role):
    make_agent(tenant, name="holder-0", roles=["support-agent"])
    one, _ = count_queries(admin_client, f"{PORTAL}/roles")
    for i in range(49):
        make_role(tenant, slug=f"role-{i}")
        make_agent(tenant, name=f"holder-{i + 1}", roles=["support-agent", f"role-{i}"])
    fifty, response = count_queries(admin_client, f"{PORTAL}/roles")
    assert fifty == one
    assert response.content.decode().count('class="role-row"') == 50
