"""The access set: role permissions ∪ direct permissions ∪ unexpired grants, each with its source;
a grant's permission disappears after its deadline."""

import datetime as dt

import pytest
from django.utils import timezone

from access import rules
from agents import services
from agents.models import Agent, Grant
from tests.agents.conftest import RUNTIME, SYSTEM, make_role

pytestmark = pytest.mark.django_db


def has_permission(agent, wanted, now):
    return rules.Matcher([e["permission"] for e in rules.access_set(agent, now)]).allows(wanted)


def entries(agent, now=None):
    agent = Agent.objects.prefetch_related("roles", "grants").get(pk=agent.pk)
    return {(e["permission"], e["source"]) for e in rules.access_set(agent, now)}


def test_access_set_merges_roles_direct_permissions_and_grants(tenant, agent):
    make_role(tenant, slug="billing", permissions=["read:invoices", "read:tickets"])
    services.update_agent(tenant, SYSTEM, agent, roles=["support-agent", "billing"])
    grant = services.create_grant(tenant, SYSTEM, agent, permission="write:refunds")
    assert entries(agent) == {
        ("read:tickets", "role:support-agent"),
        ("write:tickets", "role:support-agent"),
        ("read:invoices", "role:billing"),
        ("read:tickets", "role:billing"),
        ("read:reports", "direct"),
        ("write:refunds", f"grant:{grant.pk}"),
    }


def test_grant_permission_disappears_after_its_deadline(tenant, agent):
    deadline = timezone.now() + dt.timedelta(minutes=1)
    grant = services.create_grant(
        tenant, SYSTEM, agent, permission="write:refunds", expires_at=deadline
    )
    fresh = Agent.objects.prefetch_related("roles", "grants").get(pk=agent.pk)
    assert has_permission(fresh, "write:refunds", now=deadline - dt.timedelta(seconds=1))
    assert not has_permission(fresh, "write:refunds", now=deadline)
    assert ("write:refunds", f"grant:{grant.pk}") not in entries(agent, now=deadline)


def test_expired_grant_is_gone_from_the_runtime_access_set(agent_api, tenant, agent):
    grant = services.create_grant(
        tenant, SYSTEM, agent, permission="write:refunds",
        expires_at=timezone.now() + dt.timedelta(minutes=1),
    )  # fmt: skip
    sources = lambda: {e["source"] for e in agent_api.get(f"{RUNTIME}/grants").json()["data"]}  # noqa: E731
    assert f"grant:{grant.pk}" in sources()
    Grant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert f"grant:{grant.pk}" not in sources()


def test_revoked_grant_leaves_the_access_set(tenant, agent):
    grant = services.create_grant(tenant, SYSTEM, agent, permission="write:refunds")
    services.revoke_grant(tenant, SYSTEM, grant)
    assert ("write:refunds", f"grant:{grant.pk}") not in entries(agent)


def test_wildcard_resource_matches_within_its_action_only():
    assert rules.permission_matches("read:reports/*", "read:reports/q3")
    assert not rules.permission_matches("read:reports/*", "write:reports/q3")
    assert not rules.permission_matches("read:reports", "read:reports/q3")


def test_agent_page_shows_each_permission_with_its_source_and_expiry(admin_client, tenant, agent):
    deadline = (timezone.now() + dt.timedelta(minutes=30)).replace(microsecond=0)
    grant = services.create_grant(
        tenant, SYSTEM, agent, permission="write:refunds", expires_at=deadline
    )
    html = admin_client.get(f"/t/acme-corp/portal/agents/{agent.pk}").content.decode()
    table = html.split('class="access-set"')[1].split("</table>")[0]
    assert "<code>role:support-agent</code>" in table and "<code>direct</code>" in table
    assert f"<code>grant:{grant.pk}</code>" in table
    assert f'datetime="{deadline.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in table
