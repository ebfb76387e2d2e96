"""Who may call /keys/verify, how bad bodies are answered, and where it is mounted."""

import pytest

from portal.validation import UNSTORABLE_MESSAGE
from tests.conftest import HTMX, mint_admin_key
from tests.verify.conftest import VERIFY, make_agent, mint_agent_key

pytestmark = pytest.mark.django_db


def test_key_with_keys_verify_scope_may_verify(make_api, tenant, agent_key):
    _, secret = mint_admin_key(tenant, "resource-server", scopes=["keys:verify"])
    response = make_api(secret).post(VERIFY, {"key": agent_key[1]})
    assert response.status_code == 200
    assert response.json()["code"] == "VALID"


def test_scoped_key_without_keys_verify_is_forbidden(make_api, tenant, agent_key):
    _, secret = mint_admin_key(tenant, "reader", scopes=["api_keys:read", "agents:write"])
    response = make_api(secret).post(VERIFY, {"key": agent_key[1]})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_agent_key_cannot_verify_keys(make_api, agent_key):
    response = make_api(agent_key[1]).post(VERIFY, {"key": agent_key[1]})
    assert response.status_code == 403


def test_no_credentials_is_unauthorized(anon_api, agent_key):
    response = anon_api.post(VERIFY, {"key": agent_key[1]})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "WWW-Authenticate" in response


def test_caller_key_of_another_tenant_is_unauthorized(make_api, other_tenant, agent_key):
    _, theirs = mint_admin_key(other_tenant)
    response = make_api(theirs).post(VERIFY, {"key": agent_key[1]})
    assert response.status_code == 401


def test_another_tenants_verify_endpoint_answers_not_found_for_our_key(api, other_tenant, tenant):
    """A verifier of globex asking about an acme key learns nothing (and our key can't call it)."""
    _, globex_verifier = mint_admin_key(other_tenant, "globex verifier", scopes=["keys:verify"])
    agent = make_agent(tenant, name="acme-bot")
    _, acme_agent_key = mint_agent_key(tenant, agent)
    from tests.conftest import ApiClient

    response = ApiClient(globex_verifier).post(
        "/t/globex/api/v1/keys/verify", {"key": acme_agent_key}
    )
    assert response.status_code == 200
    assert response.json()["code"] == "NOT_FOUND"


def test_admin_session_may_verify_with_csrf_token(admin_client, agent_key):
    admin_client.get("/t/acme-corp/portal/")  # sets the CSRF cookie
    token = admin_client.cookies["csrftoken"].value
    response = admin_client.post(
        VERIFY,
        f'{{"key": "{agent_key[1]}"}}',
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200
    assert response.json()["code"] == "VALID"


def test_session_without_csrf_token_is_forbidden(admin_client, agent_key):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.cookies = admin_client.cookies
    response = client.post(VERIFY, f'{{"key": "{agent_key[1]}"}}', content_type="application/json")
    assert response.status_code == 403


def test_viewer_session_is_forbidden(viewer_client, agent_key):
    response = viewer_client.post(
        VERIFY, f'{{"key": "{agent_key[1]}"}}', content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_member_of_another_tenant_gets_not_found(outsider_client, agent_key):
    response = outsider_client.post(
        VERIFY, f'{{"key": "{agent_key[1]}"}}', content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_served_under_the_orgs_alias_too(api, agent_key):
    response = api.post("/orgs/acme-corp/api/v1/keys/verify", {"key": agent_key[1]})
    assert response.status_code == 200
    assert response.json()["code"] == "VALID"


def test_only_json_no_portal_page_or_fragment(admin_client, agent_key):
    """Verification is for machines: there is no page, and an HTMX request gets no fragment."""
    assert admin_client.get("/t/acme-corp/portal/keys/verify").status_code == 404
    assert admin_client.get("/t/acme-corp/portal/keys/verify", headers=HTMX).status_code == 404


def test_get_is_method_not_allowed(api):
    response = api.get(VERIFY)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "key"),
        ({"key": 42}, "key"),
        ({"key": None}, "key"),
        ({"key": "k", "extra": 1}, "extra"),
        ({"key": "k", "ip": "not-an-ip"}, "ip"),
        ({"key": "k", "ip": "10.0.0.0/8"}, "ip"),
        ({"key": "k", "permission": "Read Reports"}, "permission"),
        ({"key": "k", "permission": ["read:reports"]}, "permission"),
        ({"key": "k" * 1001}, "key"),
    ],
)
def test_bad_body_is_400_with_details(api, body, field):
    response = api.post(VERIFY, body)
    assert response.status_code == 400
    data = response.json()
    assert data["error"] == "bad_request"
    assert field in data["details"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [("key=x", "application/x-www-form-urlencoded", 415), ("{not json", "application/json", 400)],
    ids=["form-body-415", "malformed-json-400"],
)
def test_body_that_is_not_a_json_object_is_refused(api, body, content_type, status):
    response = api.generic(
        "POST",
        VERIFY,
        body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert response.status_code == status
    assert response.json()["status"] == status


U = UNSTORABLE_MESSAGE

# The verify body goes through the one validator every body does (SPEC §4): a NUL or a lone
# surrogate in any field, even the key that is only a question, is a 400, as are unknown fields
# and wrong JSON types; each with exactly the details any other body gets.
EXACT_BAD_BODIES = {
    "nul-in-key": ({"key": "lmk_\x00abc"}, {"key": [U]}),
    "surrogate-in-key": ({"key": "x\udfff"}, {"key": [U]}),
    "surrogate-in-a-list-as-key": ({"key": ["\ud800"]}, {"key": [U]}),
    "nul-in-permission": ({"key": "k", "permission": "read:\x00"}, {"permission": [U]}),
    "surrogate-in-permission": ({"key": "k", "permission": "read:\ud800"}, {"permission": [U]}),
    "nul-in-ip": ({"key": "k", "ip": "10.0.0.1\x00"}, {"ip": [U]}),
    "surrogate-in-ip": ({"key": "k", "ip": "\udfff"}, {"ip": [U]}),
    "unknown-field": ({"key": "k", "extra": 1}, {"extra": ["Unknown field."]}),
    "unknown-field-named-with-a-surrogate": ({"key": "k", "x\udfff": 1}, {"x\ufffd": [U]}),
    "key-not-a-string": ({"key": 42}, {"key": ["Must be a string."]}),
    "ip-and-permission-not-strings": (
        {"key": "k", "ip": True, "permission": ["read:reports"]},
        {"permission": ["Must be a string."], "ip": ["Must be a string."]},
    ),
    "no-key": ({}, {"key": ["This field is required."]}),
}


@pytest.mark.parametrize(
    ("body", "details"), list(EXACT_BAD_BODIES.values()), ids=list(EXACT_BAD_BODIES)
)
def test_a_bad_verify_body_is_the_specs_400_with_exact_details(api, body, details):
    response = api.post(VERIFY, body)
    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "bad_request",
        "message": "Validation failed.",
        "status": 400,
        "details": details,
    }
