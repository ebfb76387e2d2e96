"""SPEC §3: authentication is decided before CSRF, and one request carries one credential.

- An unsafe request under /api/v1/ with no credential at all is a 401 with
  `WWW-Authenticate: Bearer` (not Django's CSRF 403), on the admin API, the agent runtime API
  and /keys/verify alike, and it changes nothing.
- CSRF still guards requests that a session authenticates.
- A logged-in session cookie together with an API key is two credentials: 400, nothing changed.
"""

import pytest
from django.test import Client

from access.actor import Actor
from agents import services as agent_services

pytestmark = pytest.mark.django_db

BASE = "/t/acme-corp/api/v1"
UNSAFE = [
    ("post", f"{BASE}/admin/api-keys", '{"name": "ci"}'),
    ("post", f"{BASE}/admin/agents", '{"name": "bot"}'),
    ("post", f"{BASE}/admin/roles", '{"name": "Support", "permissions": []}'),
    ("post", f"{BASE}/agents/me/rotate", "{}"),
    ("post", f"{BASE}/agents/me/deactivate", "{}"),
    ("post", f"{BASE}/keys/verify", '{"key": "lmk_x"}'),
]


@pytest.fixture
def strict():
    """A client that enforces CSRF the way a browser-less outside client meets it."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE)
def test_an_unsafe_request_without_credentials_is_401_not_a_csrf_403(
    strict, tenant, method, path, body
):
    response = getattr(strict, method)(path, body, content_type="application/json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert not tenant.api_keys.exists() and not tenant.agents.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_unsafe_methods_without_credentials_are_401_too(strict, tenant, method):
    response = getattr(strict, method)(
        f"{BASE}/admin/api-keys/00000000-0000-0000-0000-000000000000",
        "{}",
        content_type="application/json",
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response


def test_an_unknown_tenant_without_credentials_is_401_too(strict):
    response = strict.post(
        "/t/no-such-tenant/api/v1/admin/api-keys", "{}", content_type="application/json"
    )
    assert response.status_code == 401


def test_a_session_still_needs_its_csrf_token_on_unsafe_requests(strict, owner, tenant):
    strict.force_login(owner)
    refused = strict.post(
        f"{BASE}/admin/api-keys", '{"name": "ci"}', content_type="application/json"
    )
    assert refused.status_code == 403
    assert not tenant.api_keys.exists()


@pytest.mark.parametrize("path", ["/agents/me/rotate", "/agents/me/deactivate"])
def test_a_session_on_the_agent_runtime_api_is_401_not_a_csrf_403(strict, owner, tenant, path):
    """No session authenticates the agent runtime API (agent keys only), so a logged-in user's
    unsafe request there has no credential: the same 401 as a GET, not Django's CSRF 403."""
    strict.force_login(owner)
    response = strict.post(f"{BASE}{path}", "{}", content_type="application/json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert strict.get(f"{BASE}/agents/me").status_code == 401


def test_a_logged_out_session_cookie_does_not_bring_csrf_back(strict, owner, tenant):
    """A stale session cookie authenticates nobody, so the request is simply unauthenticated."""
    strict.force_login(owner)
    strict.logout()
    strict.cookies["sessionid"] = "stale-session-key"
    response = strict.post(
        f"{BASE}/admin/api-keys", '{"name": "ci"}', content_type="application/json"
    )
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_session_and_an_api_key_together_are_a_400(owner, tenant, admin_key, header):
    client = Client()
    client.force_login(owner)
    value = f"Bearer {admin_key[1]}" if header == "Authorization" else admin_key[1]
    read = client.get(f"{BASE}/admin/api-keys", headers={header: value})
    assert read.status_code == 400
    assert read.json()["error"] == "bad_request"
    write = client.post(
        f"{BASE}/admin/api-keys",
        '{"name": "ci"}',
        content_type="application/json",
        headers={header: value},
    )
    assert write.status_code == 400
    assert list(tenant.api_keys.values_list("name", flat=True)) == [admin_key[0].name]


def test_a_session_and_an_agent_key_together_are_a_400_on_the_runtime_api(owner, tenant):
    agent, _key, secret = agent_services.create_agent(tenant, Actor.system("tests"), name="bot")
    client = Client()
    client.force_login(owner)
    response = client.get(f"{BASE}/agents/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400
    assert (
        Client().get(f"{BASE}/agents/me", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )


def test_either_credential_alone_still_works(owner, tenant, admin_key):
    session = Client()
    session.force_login(owner)
    assert session.get(f"{BASE}/admin/api-keys").status_code == 200
    keyed = Client()
    assert (
        keyed.get(f"{BASE}/admin/api-keys", headers={"X-API-Key": admin_key[1]}).status_code == 200
    )
