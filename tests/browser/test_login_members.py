"""A person logs in through the form, picks a tenant with the switcher and invites a member, who
follows the mail's link, sets a password and logs in."""

import re

import pytest
from django.core import mail

from tenants.models import Membership
from tests.browser.conftest import log_in, screenshot
from tests.conftest import make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_pick_a_tenant_invite_a_member_who_accepts_and_logs_in(page, tenant, other_tenant):
    owner = make_member(tenant, "owner@acme.test", "owner")
    Membership.objects.create(tenant=other_tenant, user=owner, role="viewer")

    log_in(page, "owner@acme.test")
    # Two tenants: the picker lists both with the role.
    assert page.get_by_role("heading", name="Your tenants").is_visible()
    assert page.locator("ul.picker").get_by_role("link", name="Globex").is_visible()

    page.locator("details.switcher summary").click()
    page.locator("details.switcher").get_by_role("link", name=re.compile("Acme Corp")).click()
    page.wait_for_url("**/t/acme-corp/portal/")
    assert page.get_by_role("heading", name="Acme Corp").is_visible()

    page.get_by_role("link", name="Members", exact=True).first.click()
    page.wait_for_url("**/settings/members")
    page.get_by_label("Email", exact=True).fill("newbie@acme.test")
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Send invitation").click()

    row = page.locator('tr.invitation-row[data-email="newbie@acme.test"]')
    row.wait_for()
    assert page.url.endswith("/settings/members")  # swapped in place by HTMX
    screenshot(page, "members-invited")
    assert page.js_errors == []

    # The mail's link: the invitee sets a password and lands in the tenant with the role.
    (message,) = mail.outbox
    link = re.search(r"https?://\S+/invitations/\S+", message.body).group(0)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto(link)
    page.wait_for_url("**/invitations/accept")
    assert page.get_by_role("heading", name="Join Acme Corp").is_visible()
    page.get_by_label("Choose a password").fill("a fresh passphrase 77")
    page.get_by_label("The password again").fill("a fresh passphrase 77")
    page.get_by_role("button", name="Set password and join").click()
    page.wait_for_url("**/t/acme-corp/portal/")
    assert Membership.objects.get(tenant=tenant, user__email="newbie@acme.test").role == "admin"

    # The first login with the new password.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    log_in(page, "newbie@acme.test", "a fresh passphrase 77")
    page.wait_for_url("**/t/acme-corp/portal/")
    assert page.js_errors == []


def test_a_wrong_password_shows_an_error(page, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    log_in(page, "owner@acme.test", "not the password")
    alert = page.get_by_role("alert")
    assert "The email or password is not correct." in alert.inner_text()
    assert page.get_by_label("Email").input_value() == "owner@acme.test"
    assert page.url.endswith("/login")
    assert page.js_errors == []
