"""Fixtures for /keys/verify: an agent with a role, a direct permission and grants, and its key.

Agents are made directly with the ORM (not through agents.services) so these tests pin the
verification contract alone.
"""

import datetime as dt

import pytest
from django.utils import timezone

from access.actor import Actor
from agents.models import Agent, Grant, Role
from apikeys import services as key_services

VERIFY = "/t/acme-corp/api/v1/keys/verify"
SYSTEM = Actor.system("tests")


def make_agent(tenant, name="report-bot", **kwargs):
    return Agent.objects.create(tenant=tenant, name=name, **kwargs)


def mint_agent_key(tenant, agent, name="runtime", **kwargs):
    """(ApiKey, plaintext) of a key bound to `agent`."""
    return key_services.mint_key(tenant, SYSTEM, name=name, agent=agent, **kwargs)


@pytest.fixture
def agent(tenant):
    """An agent holding role `report-reader`, direct `write:tickets`, a live grant
    `read:invoices` and an expired grant `read:payroll`."""
    role = Role.objects.create(
        tenant=tenant, slug="report-reader", name="Report reader", permissions=["read:reports"]
    )
    agent = make_agent(tenant, type=Agent.Type.AI_ASSISTANT, permissions=["write:tickets"])
    agent.roles.add(role)
    now = timezone.now()
    Grant.objects.create(
        tenant=tenant, agent=agent, permission="read:invoices", expires_at=now + dt.timedelta(1)
    )
    Grant.objects.create(
        tenant=tenant, agent=agent, permission="read:payroll", expires_at=now - dt.timedelta(1)
    )
    return agent


@pytest.fixture
def agent_key(tenant, agent):
    return mint_agent_key(tenant, agent)


@pytest.fixture
def verify(api):
    """POST a body to /keys/verify as the full-admin `api` client; returns the response."""

    def call(body, client=None, path=VERIFY):
        return (client or api).post(path, body)

    return call
