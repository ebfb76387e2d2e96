"""OAuth fixtures: an agent with a role, direct permission and key; helpers to get tokens."""

import base64

import pytest
from django.test import Client

from access import signing
from tests.agents.conftest import make_agent, make_role

API = "/t/acme-corp/api/v1"
TOKEN = f"{API}/oauth/token"


@pytest.fixture(autouse=True)
def _fresh_signing_keys():
    # Keys live in process memory across requests; each test starts from its own database.
    signing.reset()
    yield
    signing.reset()


@pytest.fixture
def made(tenant):
    make_role(tenant)
    return make_agent(tenant, roles=["support-agent"], permissions=["read:reports"])


@pytest.fixture
def client_id(made):
    return str(made[0].pk)


@pytest.fixture
def secret(made):
    return made[2]


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def get_token(client_id, secret, tenant="acme-corp", **params):
    """POST a JSON client-credentials request; the response."""
    return Client().post(
        f"/t/{tenant}/api/v1/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **params,
        },
        content_type="application/json",
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def issued(client_id, secret):
    response = get_token(client_id, secret)
    assert response.status_code == 200, response.content
    return response.json()
