"""A person logs in through the form, picks a tenant with the switcher and adds a member."""

import re

import pytest

from tenants.models import Membership
from tests.browser.conftest import log_in, screenshot
from tests.conftest import make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_pick_a_tenant_with_the_switcher_and_add_a_member(page, tenant, other_tenant):
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
    page.get_by_role("button", name="Add member").click()

    panel = page.locator(".secret-panel")
    panel.wait_for()
    assert "newbie@acme.test was added as admin" in panel.inner_text()
    password = page.locator("#added-password").input_value()
    assert len(password) >= 12
    assert page.locator('tr[data-email="newbie@acme.test"]').is_visible()
    assert page.url.endswith("/settings/members")  # swapped in place by HTMX
    screenshot(page, "members-added")
    assert Membership.objects.get(tenant=tenant, user__email="newbie@acme.test").role == "admin"
    assert page.js_errors == []

    # The new member can log in with the temporary password.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    log_in(page, "newbie@acme.test", password)
    page.wait_for_url("**/t/acme-corp/portal/")


def test_a_wrong_password_shows_an_error(page, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    log_in(page, "owner@acme.test", "not the password")
    alert = page.get_by_role("alert")
    assert "The email or password is not correct." in alert.inner_text()
    assert page.get_by_label("Email").input_value() == "owner@acme.test"
    assert page.url.endswith("/login")
    assert page.js_errors == []
