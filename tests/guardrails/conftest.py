"""Guardrails fixtures (SPEC §15): an agent holding two roles and its key, made through the API."""

import pytest

from tests.access.conftest import api_url, call
from tests.agents.conftest import agent, agent_api, foreign_agent, made, make_role, role  # noqa: F401

ADMIN = "/t/acme-corp/api/v1/admin"
ME = api_url("acme-corp", "agents/me")
VERIFY = api_url("acme-corp", "keys/verify")
TOKEN = api_url("acme-corp", "oauth/token")


@pytest.fixture
def admin_call(api):
    """An admin API request that must succeed; its JSON."""

    def send(method, path, body=None):
        response = (
            getattr(api, method)(f"{ADMIN}/{path}", body)
            if body is not None
            else (getattr(api, method)(f"{ADMIN}/{path}"))
        )
        assert response.status_code < 300, (path, response.status_code, response.content)
        return response.json() if response.content else None

    return send


@pytest.fixture
def bot(tenant, admin_call):
    """An agent with roles `report-reader` (read:reports) and `invoice-reader` (read:invoices),
    as the API answers its creation (with its first key's `apiKey`)."""
    make_role(tenant, "report-reader", ["read:reports"])
    make_role(tenant, "invoice-reader", ["read:invoices"])
    return admin_call(
        "post", "agents", {"name": "report-bot", "roles": ["report-reader", "invoice-reader"]}
    )


def verify(api, key, permission=None):
    body = {"key": key} if permission is None else {"key": key, "permission": permission}
    response = api.post(VERIFY, body)
    assert response.status_code == 200, response.content
    return response.json()


def me(key):
    response = call("get", ME, credential=key)
    assert response.status_code == 200, response.content
    return response.json()


def token(agent_id, secret, scope=None):
    body = {"grant_type": "client_credentials", "client_id": agent_id, "client_secret": secret}
    if scope is not None:
        body["scope"] = scope
    return call("post", TOKEN, body=body)
