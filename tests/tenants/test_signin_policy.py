"""A tenant's sign-in policy (SPEC §14): `requireMfa` and `ssoOnly`, set by owners only, bind
sessions on the tenant's pages and API; keys are unaffected."""

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from audit.models import AuditEvent
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

SETTINGS = "/t/acme-corp/portal/settings"
API = "/t/acme-corp/api/v1/admin/settings"
KEYS_API = "/t/acme-corp/api/v1/admin/api-keys"


def test_the_settings_api_shows_the_policy_and_keys_may_not_change_it(api, tenant):
    assert api.get(API).json() == {"dormantKeyDays": None, "requireMfa": False, "ssoOnly": False}
    response = api.patch(API, {"requireMfa": True})
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.require_mfa is False


def test_an_owner_requires_mfa_on_the_settings_page_and_it_is_audited(owner_client, tenant):
    response = owner_client.post(SETTINGS, {"requireMfa": ["false", "true"], "ssoOnly": "false"})
    assert response.status_code == 303
    tenant.refresh_from_db()
    assert tenant.require_mfa is True and tenant.sso_only is False
    event = AuditEvent.objects.get(action="settings.updated")
    assert event.metadata == {"requireMfa": True}


def test_an_owner_may_set_it_on_the_api_with_a_session(owner_client, tenant):
    response = owner_client.patch(API, {"requireMfa": True}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["requireMfa"] is True


@pytest.mark.parametrize("client_fixture", ["admin_client", "viewer_client"])
def test_admins_and_viewers_may_not_change_it(request, client_fixture, tenant, owner):
    client = request.getfixturevalue(client_fixture)
    assert client.post(SETTINGS, {"requireMfa": "true"}).status_code == 403
    tenant.refresh_from_db()
    assert tenant.require_mfa is False


def test_sso_only_needs_the_owner_signed_in_with_sso(owner_client, tenant):
    response = owner_client.post(SETTINGS, {"ssoOnly": "true"})
    assert response.status_code == 409
    assert "Sign in with single sign-on first" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.sso_only is False


@pytest.fixture
def requires_mfa(tenant):
    tenant.require_mfa = True
    tenant.save()
    return tenant


def test_a_member_without_a_second_factor_is_sent_to_set_one_up(requires_mfa, admin_client):
    response = admin_client.get("/t/acme-corp/portal/agents")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/?next=/t/acme-corp/portal/agents")
    page = admin_client.get(response["Location"]).content.decode()
    assert "requires two-factor authentication" in page


def test_their_session_gets_403_on_the_api_and_keys_are_unaffected(requires_mfa, admin_client, api):
    response = admin_client.get(KEYS_API)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert api.get(KEYS_API).status_code == 200


def test_a_member_with_a_second_factor_goes_in(requires_mfa, admin, admin_client):
    TOTP.activate(admin, generate_totp_secret())
    assert admin_client.get("/t/acme-corp/portal/agents").status_code == 200
    assert admin_client.get(KEYS_API).status_code == 200


def test_the_policy_of_one_tenant_does_not_bind_another(requires_mfa, outsider_client):
    assert outsider_client.get("/t/globex/portal/").status_code == 200


def test_sso_only_refuses_a_password_session(tenant, admin_client, admin_key):
    tenant.sso_only = True
    tenant.save()
    response = admin_client.get("/t/acme-corp/portal/")
    assert response.status_code == 302 and response["Location"].startswith("/logout?next=")
    assert admin_client.get(KEYS_API).status_code == 403
    assert ApiClient(admin_key[1]).get(KEYS_API).status_code == 200
