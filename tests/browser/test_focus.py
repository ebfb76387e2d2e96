"""Focus after in-place updates, with DEBUG on and off: a new key's panel takes focus and is
announced (the next Tab reaches Copy); a revoke that re-renders the table leaves focus in the
table, never on <body>; "Copied" goes back to "Copy"."""

import pytest
from playwright.sync_api import expect

from access.actor import Actor
from apikeys import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEYS = "/t/acme-corp/portal/settings/api-keys"
FOCUSED = "document.activeElement.outerHTML.slice(0, 80)"


@pytest.fixture
def owner_page(member_page):
    page = member_page("owner")
    page.goto(KEYS)
    return page


def test_a_minted_key_takes_focus_and_is_announced(owner_page):
    page = owner_page
    page.get_by_text("Create API key").click()
    page.get_by_label("Name", exact=True).fill("ci-deploy")
    page.get_by_label("api_keys:read", exact=True).check()
    page.get_by_role("button", name="Mint key").click()
    panel = page.locator(".secret-panel")
    expect(panel).to_be_focused()
    expect(page.locator("#announce")).to_contain_text("New key “ci-deploy”")
    page.keyboard.press("Tab")  # from the panel: the key's field, then Copy
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy")).to_be_focused()
    page.clock.install()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    # "Copied" resets after a few seconds (a fake clock runs them at once).
    page.clock.run_for(5000)
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    assert page.js_errors == []


def test_revoking_keeps_focus_in_the_updated_table(owner_page, tenant):
    page = owner_page
    key, _ = services.mint_key(tenant, Actor.system("tests"), name="leaked")
    page.reload()
    row = page.locator(f"#key-{key.pk}")
    row.get_by_text("Revoke…").click()
    row.get_by_role("button", name="Revoke key").focus()
    page.keyboard.press("Enter")
    expect(row.locator(".status")).to_have_text("revoked")
    # (Not wait_for_function: its polling evaluates a string, which the page's CSP refuses.)
    expect(page.locator("#key-table:focus-within")).to_have_count(1)
    assert page.evaluate("!!document.activeElement.closest('#key-table')"), page.evaluate(FOCUSED)
    expect(page.locator("#flash")).to_contain_text("revoked")
