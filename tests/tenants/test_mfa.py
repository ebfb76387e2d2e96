"""Two factors (SPEC §14): TOTP with 10 recovery codes; the login asks for the second factor;
adding and removing one is audited without any secret."""

import logging
import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from audit.models import AuditEvent
from tests.conftest import PASSWORD

# allauth sends its authenticator signals on commit: real transactions.
pytestmark = pytest.mark.django_db(transaction=True)

ACTIVATE = "/accounts/2fa/totp/activate/"


def log_in(client, email="owner@acme.test", password=PASSWORD):
    return client.post("/login", {"login": email, "password": password})


def confirm_access(client, password=PASSWORD):
    response = client.post("/accounts/reauthenticate/", {"password": password})
    assert response.status_code == 302
    return response


def enable_totp(client) -> str:
    """Turn TOTP on through the pages; returns the secret shown as text."""
    confirm_access(client)
    page = client.get(ACTIVATE).content.decode()
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page) or re.search(
        r'value="([A-Z2-7]{32})"', page
    )
    secret = secret.group(1)
    response = client.post(ACTIVATE, {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


def recovery_codes(client) -> list[str]:
    page = client.get("/accounts/2fa/recovery-codes/").content.decode()
    return re.findall(r"\b([a-z0-9]{8})\b", page.split('id="recovery_codes"', 1)[1])[:10]


def test_totp_is_turned_on_with_the_secret_as_text_and_audited_without_it(owner, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client()
    log_in(client)
    secret = enable_totp(client)
    assert Authenticator.objects.filter(user=owner, type="totp").exists()
    event = AuditEvent.objects.get(action="user.mfa_enabled", tenant=tenant, metadata__type="totp")
    assert event.target_id == str(owner.pk)
    codes = recovery_codes(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    # Shown once: the page does not show them again.
    assert not any(
        code in client.get("/accounts/2fa/recovery-codes/").content.decode() for code in codes
    )
    for e in AuditEvent.objects.all():
        assert secret not in str(e.metadata)
        assert not any(code in str(e.metadata) for code in codes)
    assert secret not in caplog.text
    assert not any(code in caplog.text for code in codes)


def test_the_login_then_asks_for_a_code_and_audits_the_login_after_it(owner):
    client = Client()
    log_in(client)
    secret = enable_totp(client)
    client.post("/logout")
    logins = AuditEvent.objects.filter(action="user.login").count()

    client = Client()
    response = log_in(client)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    assert client.get("/t/acme-corp/portal/").status_code == 302  # not yet logged in
    assert AuditEvent.objects.filter(action="user.login").count() == logins
    response = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert response.status_code == 200  # wrong code: asked again
    response = client.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert client.get("/t/acme-corp/portal/").status_code == 200
    assert AuditEvent.objects.filter(action="user.login").count() == logins + 1


def test_a_recovery_code_works_once(owner):
    client = Client()
    log_in(client)
    enable_totp(client)
    code = recovery_codes(client)[0]
    client.post("/logout")
    for expected in (302, 200):
        client = Client()
        log_in(client)
        response = client.post("/accounts/2fa/authenticate/", {"code": code})
        assert response.status_code == expected


def test_turning_totp_off_is_audited(owner, tenant):
    client = Client()
    log_in(client)
    enable_totp(client)
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=owner, type="totp").exists()
    assert AuditEvent.objects.filter(
        action="user.mfa_disabled", tenant=tenant, metadata__type="totp"
    ).exists()
