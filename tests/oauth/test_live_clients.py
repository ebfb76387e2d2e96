"""Real outside clients against the served app: authlib's OAuth2Session (client credentials,
refresh, introspection, revocation), PyJWT's PyJWKClient verifying a token offline, and
authlib's RFC 8414 metadata validator."""

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from tests.agents.conftest import make_agent


@pytest.fixture
def served(live_server, settings, transactional_db):
    from tenants.models import Tenant

    settings.PUBLIC_URL = live_server.url
    tenant = Tenant.objects.create(slug="acme-corp", name="Acme Corp")
    agent, _, secret = make_agent(tenant, permissions=["read:reports", "write:reports"])
    return f"{live_server.url}/t/acme-corp/api/v1", str(agent.pk), secret


def test_authlib_client_credentials_then_refresh_then_revoke(served):
    base, client_id, secret = served
    session = OAuth2Session(client_id, secret, scope="read:reports")
    token = session.fetch_token(f"{base}/oauth/token", grant_type="client_credentials")
    assert token["scope"] == "read:reports"
    me = session.get(f"{base}/agents/me")
    assert me.status_code == 200 and me.json()["id"] == client_id

    refreshed = session.refresh_token(f"{base}/oauth/token")
    assert refreshed["access_token"] != token["access_token"]
    assert session.get(f"{base}/agents/me").status_code == 200

    introspected = session.introspect_token(
        f"{base}/oauth/introspect", token=refreshed["access_token"]
    )
    assert introspected.json()["active"] is True
    assert session.revoke_token(f"{base}/oauth/revoke", token=refreshed["access_token"]).ok
    assert session.get(f"{base}/agents/me").status_code == 401


def test_pyjwt_verifies_a_token_offline_against_the_jwks(served):
    base, client_id, secret = served
    token = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=30,
    ).json()["access_token"]
    signing_key = jwt.PyJWKClient(f"{base}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=base, issuer=base)
    assert claims["sub"] == client_id
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_metadata_passes_authlibs_rfc8414_validator(served, live_server):
    base, _, _ = served
    inserted = f"{live_server.url}/.well-known/oauth-authorization-server/t/acme-corp/api/v1"
    data = requests.get(inserted, timeout=30).json()
    metadata = AuthorizationServerMetadata(data)
    # Every RFC 8414 rule but one: Tessera has no authorization endpoint, so it supports no
    # response type and publishes `response_types_supported: []`; authlib wants a non-empty list.
    for key in metadata.REGISTRY_KEYS:
        if key != "response_types_supported":
            getattr(metadata, f"validate_{key}")()
    assert data["response_types_supported"] == []
    assert data["issuer"] == base
