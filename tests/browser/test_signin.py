"""Signing in (SPEC §14) in a real browser: password reset by mail, two factors, passkeys,
confirm access, requireMfa."""

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.core import mail

from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD, make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW = "a brand new passphrase 31"


def test_reset_by_mail_then_log_in_with_the_new_password(page, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("owner@acme.test")
    page.get_by_role("button", name=re.compile("Reset my password", re.I)).click()
    page.wait_for_load_state("networkidle")
    (message,) = mail.outbox
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", message.body).group(0)
    page.goto(re.sub(r"^https?://[^/]+", "", link))
    page.get_by_label(re.compile("^New password:?$", re.I)).fill(NEW)
    page.get_by_label(re.compile("New password \\(again\\)", re.I)).fill(NEW)
    page.get_by_role("button", name=re.compile("Change password", re.I)).click()
    page.wait_for_load_state("networkidle")
    log_in(page, "owner@acme.test", NEW)
    page.wait_for_url("**/t/acme-corp/portal/")
    assert page.js_errors == []


def test_minting_a_key_asks_to_confirm_access_and_then_shows_the_key_once(page, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    log_in(page, "owner@acme.test", confirm=False)
    page.goto("/t/acme-corp/portal/settings/api-keys")
    page.get_by_text("Create API key").click()
    page.get_by_label("Name", exact=True).fill("ci-deploy")
    page.get_by_label("Full admin (every scope)").check()
    page.get_by_role("button", name="Mint key").click()
    page.wait_for_url("**/accounts/reauthenticate/**")
    assert not ApiKey.objects.exists()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    shown = page.locator("#minted-key").input_value()
    (key,) = ApiKey.objects.all()
    assert key.name == "ci-deploy" and shown.startswith(key.prefix)
    assert "won't be able to see this key again" in page.locator(".secret-panel").inner_text()
    page.goto("/t/acme-corp/portal/settings/api-keys")
    assert shown not in page.content()
    assert page.js_errors == []


def enable_totp(page) -> str:
    page.goto("/accounts/2fa/totp/activate/")
    if "/reauthenticate/" in page.url:
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url("**/totp/activate/")
    secret = page.locator("#authenticator_secret").input_value()
    page.get_by_label(re.compile("Authenticator code", re.I)).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=re.compile("Activate", re.I)).click()
    page.wait_for_load_state("networkidle")
    return secret


def test_totp_then_log_in_with_a_code_then_with_a_recovery_code(page, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    log_in(page, "owner@acme.test")
    secret = enable_totp(page)
    # Turning TOTP on leads to the recovery codes, shown this once.
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    codes = re.findall(r"\b[a-z0-9]{8}\b", page.locator("#recovery_codes").input_value())
    assert len(codes) == 10

    for second_factor in (pyotp.TOTP(secret).now(), codes[0]):
        page.goto("/logout")
        page.get_by_role("button", name="Log out").last.click()
        page.wait_for_url("**/login")
        log_in(page, "owner@acme.test", confirm=False)
        page.wait_for_url("**/2fa/authenticate/**")
        page.get_by_label(re.compile("Code", re.I)).fill(second_factor)
        page.get_by_role("button", name=re.compile("Sign In|Log in", re.I)).click()
        page.wait_for_url("**/t/acme-corp/portal/")
    assert page.js_errors == []


def test_require_mfa_sends_a_member_to_set_up_a_second_factor(page, tenant):
    make_member(tenant, "admin@acme.test", "admin")
    tenant.require_mfa = True
    tenant.save()
    log_in(page, "admin@acme.test", confirm=False)
    page.goto("/t/acme-corp/portal/agents")
    page.wait_for_url("**/accounts/2fa/**")
    assert "requires two-factor authentication" in page.content()
    # The API answers this session 403 too.
    answer = page.request.get("/t/acme-corp/api/v1/admin/api-keys")
    assert answer.status == 403
    enable_totp(page)
    page.goto("/t/acme-corp/portal/agents")
    assert page.url.endswith("/t/acme-corp/portal/agents")
    assert page.request.get("/t/acme-corp/api/v1/admin/api-keys").status == 200


def test_register_a_passkey_then_log_in_with_it(page, context, tenant, settings):
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
    make_member(tenant, "owner@acme.test", "owner")
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    log_in(page, "owner@acme.test")
    page.goto("/accounts/2fa/webauthn/add/")
    page.get_by_label(re.compile("Name", re.I)).fill("laptop")
    passwordless = page.get_by_label(re.compile("Passwordless", re.I))
    if passwordless.count():
        passwordless.check()
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_load_state("networkidle")
    page.wait_for_url(re.compile(r".*/accounts/2fa/(webauthn/|recovery-codes/|)$"))
    assert Authenticator.objects.filter(type="webauthn", user__email="owner@acme.test").exists()
    assert AuditEvent.objects.filter(action="user.mfa_enabled", metadata__type="webauthn").exists()

    page.goto("/logout")
    page.get_by_role("button", name="Log out").last.click()
    page.wait_for_url("**/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    page.wait_for_url("**/t/acme-corp/portal/")
    assert page.js_errors == []
