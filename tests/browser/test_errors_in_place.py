"""An HTMX form post that is refused (400, 404) shows its error in place, with DEBUG on (as under
scripts/run) as with DEBUG off: the nav, the form and what was typed stay on the page.

With DEBUG on, django-htmx's debug script (added by {% htmx_script %}) replaced the whole document
with the error fragment; the portal loads htmx without it."""

import pytest
from playwright.sync_api import expect

from access.actor import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROLES = "/t/acme-corp/portal/roles"
KEYS = "/t/acme-corp/portal/settings/api-keys"


@pytest.fixture
def admin_page(member_page):
    return member_page("admin")


def test_a_typo_in_a_form_keeps_the_page_and_shows_the_error(admin_page, tenant):
    page = admin_page
    page.goto(ROLES)
    page.get_by_label("Name", exact=True).fill("Support")
    page.get_by_label("Permissions").fill("read tickets")
    page.get_by_role("button", name="Create role").click()
    expect(page.locator("#flash .flash-error")).to_contain_text("permissions")
    expect(page.get_by_role("navigation", name="Tenant")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Support")
    expect(page.get_by_label("Permissions")).to_have_value("read tickets")
    assert page.locator("link[rel=stylesheet]").count() >= 1
    assert not tenant.roles.exists()


def test_acting_on_a_key_another_tab_deleted_says_so_in_place(admin_page, tenant):
    from apikeys import services as key_services

    page = admin_page
    key, _ = key_services.mint_key(tenant, Actor.system("tests"), name="doomed", scopes=[])
    page.goto(KEYS)
    row = page.locator(f"#key-{key.pk}")
    expect(row).to_be_visible()
    key_services.delete_key(tenant, Actor.system("tests"), key)  # another tab deleted it
    row.locator("summary", has_text="Revoke").click()
    row.get_by_role("button", name="Revoke key").click()
    expect(page.locator("#flash .flash-error")).to_be_visible()
    expect(page.get_by_role("navigation", name="Tenant")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_the_debug_script_is_not_loaded(admin_page):
    page = admin_page
    page.goto(ROLES)
    sources = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert not [s for s in sources if "django-htmx.js" in s]
    assert [s for s in sources if "htmx-2" in s]
