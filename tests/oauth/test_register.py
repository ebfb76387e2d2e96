"""Dynamic client registration, RFC 7591 (SPEC §10)."""

from django.test import Client

from agents.models import Agent
from audit.models import AuditEvent
from tests.conftest import mint_admin_key
from tests.oauth.conftest import API, bearer, get_token

REGISTER = f"{API}/oauth/register"


def test_register_creates_an_integration_agent_whose_secret_gets_tokens(api, tenant):
    response = api.post(REGISTER, {"client_name": "Billing sync", "scope": "read:invoices"})
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_secret_expires_at"] == 0
    assert body["client_name"] == "Billing sync"
    assert body["scope"] == "read:invoices"
    assert body["grant_types"] == ["client_credentials"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert isinstance(body["client_id_issued_at"], int)
    agent = Agent.objects.get(pk=body["client_id"])
    assert agent.type == "integration" and agent.permissions == ["read:invoices"]
    assert AuditEvent.objects.filter(tenant=tenant, action="oauth.client_registered").count() == 1
    token = get_token(body["client_id"], body["client_secret"]).json()
    assert token["scope"] == "read:invoices"
    me = Client().get(f"{API}/agents/me", headers=bearer(token["access_token"])).json()
    assert me["clientId"] == me["id"] == body["client_id"]


def test_register_needs_agents_write(tenant, make_api):
    key = mint_admin_key(tenant, name="reader", scopes=["agents:read"])[1]
    response = make_api(key).post(REGISTER, {"client_name": "x"})
    assert response.status_code == 403


def test_register_without_a_credential_is_401(db, tenant):
    response = Client().post(REGISTER, {"client_name": "x"}, content_type="application/json")
    assert response.status_code == 401


def test_bad_metadata_is_invalid_client_metadata(api):
    for body in (
        {"client_name": "x", "scope": "not a permission"},
        {"client_name": "x", "grant_types": ["password"]},
        {"client_name": "x", "grant_types": [{}]},  # was a 500 (unhashable), found by schemathesis
        {"client_name": "x", "grant_types": [["client_credentials"]]},
        {"client_name": "x", "token_endpoint_auth_method": "private_key_jwt"},
        {"client_name": "\u202ex"},
        {"scope": "read:x"},
        {"client_name": "x", "redirect_uris": ["https://x"]},
    ):
        response = api.post(REGISTER, body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid_client_metadata"


def test_agent_json_carries_its_client_id(api, made):
    body = api.get(f"{API}/admin/agents/{made[0].pk}").json()
    assert body["clientId"] == body["id"]
