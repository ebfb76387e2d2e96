"""Signing in (SPEC §14) in a real browser: password reset by mail, two factors, passkeys,
confirm access, requireMfa."""

import re

import pytest
from django.core import mail

from tests.browser.conftest import log_in
from tests.conftest import make_member

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
