"""Single sign-on (SPEC §14) end to end: Tessera against a real OpenID Connect provider process
(oidc-provider-mock) on loopback, through Chromium."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from allauth.socialaccount.models import SocialAccount

from audit.models import AuditEvent
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USERS = [
    {"sub": "sso-owner", "email": "owner@acme.test", "email_verified": True},
    {"sub": "sso-viewer", "email": "viewer@acme.test", "email_verified": False},
    {"sub": "sso-stranger", "email": "stranger@acme.test", "email_verified": True},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def provider():
    """The provider, in its own process on 127.0.0.1; its issuer URL."""
    port = _free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port)]
    for user in USERS:
        args += ["--user-claims", json.dumps(user)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    issuer = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # up to 20 s for the process to listen
            try:
                discovery = f"{issuer}/.well-known/openid-configuration"
                with urllib.request.urlopen(discovery, timeout=1):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the OpenID provider did not start")
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso(provider, settings):
    settings.SECURE_CSP = {
        **settings.SECURE_CSP,
        "form-action": [*settings.SECURE_CSP["form-action"], provider],
    }
    settings.OIDC_PROVIDERS = [
        {"id": "acme-idp", "name": "Acme SSO", "issuer": provider, "clientId": "tessera",
         "clientSecret": "s3cret"}
    ]  # fmt: skip
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {"provider_id": "acme-idp", "name": "Acme SSO", "client_id": "tessera",
                 "secret": "s3cret", "settings": {"server_url": provider}}
            ],
        }
    }  # fmt: skip
    return provider


def sign_in_with_sso(page, sub):
    page.goto("/login")
    page.get_by_role("button", name="Sign in with Acme SSO").click()
    page.get_by_role("button", name=f"Authorize as {sub}").click()
    page.wait_for_load_state("networkidle")


def test_sso_login_links_the_verified_account_and_lets_the_owner_turn_on_sso_only(
    page, sso, tenant
):
    owner = make_member(tenant, "owner@acme.test", "owner")
    sign_in_with_sso(page, "sso-owner")
    page.wait_for_url("**/t/acme-corp/portal/")
    assert SocialAccount.objects.filter(user=owner, provider="acme-idp").exists()
    owner.refresh_from_db()
    assert owner.has_usable_password()  # linking by a verified email keeps the password
    assert AuditEvent.objects.filter(action="user.login", target_id=str(owner.pk)).exists()

    # Signed in with SSO, the owner may make the tenant SSO-only (after confirming access).
    page.goto("/t/acme-corp/portal/settings")
    page.get_by_label("Single sign-on only").check()
    page.get_by_role("button", name="Save sign-in policy").click()
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state("networkidle")
    tenant.refresh_from_db()
    assert tenant.sso_only is True
    assert page.js_errors == []


def test_sso_without_email_verified_is_refused_with_a_clear_message(page, sso, tenant):
    viewer = make_member(tenant, "viewer@acme.test", "viewer")
    sign_in_with_sso(page, "sso-viewer")
    assert "did not assert email_verified" in page.content()
    assert not SocialAccount.objects.filter(user=viewer).exists()
    page.goto("/t/acme-corp/portal/")
    assert page.url.endswith("/login?next=/t/acme-corp/portal/")


def test_sso_for_an_email_without_account_or_invitation_is_refused(page, sso, tenant):
    sign_in_with_sso(page, "sso-stranger")
    assert "No Tessera account uses stranger@acme.test" in page.content()


def test_a_password_session_is_refused_by_an_sso_only_tenant(page, sso, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    tenant.sso_only = True
    tenant.save()
    log_in(page, "owner@acme.test", confirm=False)
    page.goto("/t/acme-corp/portal/")
    assert "takes single sign-on only" in page.content()
