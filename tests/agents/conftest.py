"""Fixtures for agents, roles and grants: a role, an agent with its first key, a client
sending that agent key, and the URLs of the three mounts."""

import pytest

from access.actor import Actor
from agents import services
from tests.conftest import ApiClient

PORTAL = "/t/acme-corp/portal"
ADMIN = "/t/acme-corp/api/v1/admin"
RUNTIME = "/t/acme-corp/api/v1/agents/me"
SYSTEM = Actor.system("tests")


def make_agent(tenant, name="support-bot", **kwargs):
    """(agent, key, plaintext) made through the service, as the API would."""
    return services.create_agent(tenant, SYSTEM, name=name, **kwargs)


def make_role(tenant, slug="support-agent", permissions=("read:tickets", "write:tickets")):
    return services.create_role(
        tenant, SYSTEM, slug=slug, name=slug.replace("-", " ").title(), permissions=permissions
    )


def is_full_page(response):
    return b"<html" in response.content


def is_fragment(response, dom_id):
    html = response.content.decode()
    return "<html" not in html and f'id="{dom_id}"' in html


@pytest.fixture
def role(tenant):
    return make_role(tenant)


@pytest.fixture
def made(tenant, role):
    """(agent, key, plaintext) of agent `support-bot` holding role `support-agent`."""
    return make_agent(
        tenant,
        type="ai_assistant",
        description="Answers tickets",
        roles=["support-agent"],
        permissions=["read:reports"],
    )


@pytest.fixture
def agent(made):
    return made[0]


@pytest.fixture
def agent_api(made):
    """A client that sends the agent's own key."""
    return ApiClient(made[2])


@pytest.fixture
def foreign_agent(other_tenant):
    """An agent of another tenant: its id in acme-corp's URLs is a 404."""
    return make_agent(other_tenant, name="globex-bot")[0]
