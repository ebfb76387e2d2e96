"""A person manages API keys in Chromium: mint and copy a key, dismiss it, rotate with a grace
period, revoke after confirming, filter the table; a viewer sees no actions; and the same
flows work with JavaScript switched off."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from access.actor import Actor
from agents.models import Agent
from apikeys import services
from apikeys.models import ApiKey
from tests.browser.conftest import log_in, screenshot
from tests.conftest import PASSWORD, make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEYS = "/t/acme-corp/portal/settings/api-keys"


@pytest.fixture
def owner_page(page, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    log_in(page, "owner@acme.test")
    page.goto(KEYS)
    return page


def row(page, key):
    return page.locator(f'tr[data-key-prefix="{key.prefix}"]')


def open_create_form(page):
    """The keys table is the page; "Create API key" opens the form (a <details>)."""
    page.get_by_text("Create API key").click()


def mint_in_page(page, name, *scopes, expires="No expiry (not recommended)"):
    """Fill in and send the mint form (no scopes: full admin); return the key the panel shows."""
    open_create_form(page)
    page.get_by_label("Name", exact=True).fill(name)
    if not scopes:
        page.get_by_label("Full admin (every scope)").check()
    for scope in scopes:
        page.get_by_label(scope, exact=True).check()
    page.get_by_label("Expires").select_option(label=expires)
    page.get_by_role("button", name="Mint key").click()
    return page.locator("#minted-key").input_value()


def test_mint_copy_and_dismiss_a_key(owner_page, tenant):
    page = owner_page
    shown = mint_in_page(page, "ci-deploy", "api_keys:read", "audit:read", expires="30 days")
    panel = page.locator(".secret-panel")
    expect(panel).to_contain_text("You won't be able to see this key again")
    key = ApiKey.objects.get(tenant=tenant, name="ci-deploy")
    assert shown.startswith(key.prefix)
    assert key.scopes == ["api_keys:read", "audit:read"]
    # The table refreshed in place (no navigation), with the new key in it.
    assert page.url.endswith(KEYS)
    expect(row(page, key)).to_contain_text("api_keys:read")
    # The mint form is fresh again (and closed: the table is the page).
    open_create_form(page)
    expect(page.get_by_label("Name", exact=True)).to_have_value("")

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == shown

    page.get_by_role("button", name="Dismiss").click()
    expect(panel).to_have_count(0)
    assert shown not in page.content()
    page.reload()
    expect(row(page, key)).to_be_visible()
    assert shown not in page.content()
    assert page.js_errors == []


def test_rotate_with_a_one_hour_grace_shows_both_keys(owner_page, tenant):
    page = owner_page
    key, old_secret = services.mint_key(
        tenant, Actor.system("tests"), name="nightly-export", scopes=["agents:read"]
    )
    page.reload()
    old_row = row(page, key)
    old_row.get_by_text("Rotate…").click()
    old_row.get_by_label("Keep the old key working for").select_option(label="1 hour")
    old_row.get_by_role("button", name="Rotate key").click()

    panel = page.locator(".secret-panel")
    expect(panel).to_contain_text("rotated")
    new_secret = page.locator("#minted-key").input_value()
    new = ApiKey.objects.get(rotated_from=key)
    assert new_secret.startswith(new.prefix) and new_secret != old_secret
    expect(row(page, new)).to_contain_text("active")
    expect(row(page, key)).to_contain_text(re.compile(r"deprecated, expires in \d+ min"))
    expect(row(page, key).locator("time[data-relative]").first).to_have_attribute(
        "title", re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
    )
    expect(row(page, key).locator("[data-countdown]")).to_contain_text(
        re.compile(r"\d+m \d+s left")
    )
    # The old key cannot be rotated twice.
    expect(row(page, key).get_by_text("Rotate…")).to_have_count(0)
    assert page.js_errors == []


def test_revoke_after_confirming_and_filter_by_status(owner_page, tenant):
    page = owner_page
    key, _ = services.mint_key(tenant, Actor.system("tests"), name="leaked-key")
    keep, _ = services.mint_key(tenant, Actor.system("tests"), name="keeper")
    page.reload()
    revoke_button = row(page, key).get_by_role("button", name="Revoke key")
    expect(revoke_button).to_be_hidden()  # behind the confirmation disclosure
    row(page, key).get_by_text("Revoke…").click()
    row(page, key).get_by_label("Reason (optional)").fill("posted in a public chat")
    revoke_button.click()

    expect(row(page, key).locator(".status")).to_have_text("revoked")
    expect(page.locator("#flash")).to_contain_text(f"({key.prefix}) revoked.")
    key.refresh_from_db()
    assert (key.status, key.revoked_reason) == ("revoked", "posted in a public chat")

    page.get_by_label("Status").select_option("revoked")
    expect(row(page, keep)).to_have_count(0)
    expect(row(page, key)).to_be_visible()
    assert "status=revoked" in page.url  # pushed into the history (after an empty q=)
    page.reload()  # the pushed URL renders the same table
    expect(row(page, keep)).to_have_count(0)
    expect(page.get_by_label("Status")).to_have_value("revoked")
    assert page.js_errors == []


def test_a_viewer_sees_the_keys_but_no_action_buttons(page, tenant):
    make_member(tenant, "viewer@acme.test", "viewer")
    key, _ = services.mint_key(tenant, Actor.system("tests"), name="ci")
    log_in(page, "viewer@acme.test")
    page.goto(KEYS)
    expect(row(page, key)).to_contain_text("full admin")
    for name in ["Mint key", "Rotate key", "Deprecate key", "Revoke key", "Delete key"]:
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_text("Rotate…")).to_have_count(0)
    assert page.js_errors == []


def test_keys_work_without_javascript(browser, live_server, tenant):
    make_member(tenant, "owner@acme.test", "owner")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("Email").fill("owner@acme.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in", exact=True).click()
        page.goto(KEYS)
        open_create_form(page)  # <details> opens without JS
        page.get_by_label("Name", exact=True).fill("no-js")
        page.get_by_label("Full admin (every scope)").check()
        page.get_by_role("button", name="Mint key").click()
        # Confirm access (SPEC §14) works without JavaScript too, and the mint completes after it.
        page.wait_for_url("**/accounts/reauthenticate/**")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
        shown = page.locator("#minted-key").input_value()
        key = ApiKey.objects.get(tenant=tenant, name="no-js")
        assert shown.startswith(key.prefix)

        row(page, key).get_by_text("Revoke…").click()  # <details> opens without JS
        row(page, key).get_by_role("button", name="Revoke key").click()
        page.wait_for_url(f"**{KEYS}")
        expect(page.locator("#flash")).to_contain_text("revoked.")
        expect(row(page, key).locator(".status")).to_have_text("revoked")
        assert shown not in page.content()
    finally:
        context.close()


def test_screenshot_of_the_keys_page(owner_page, tenant):
    page = owner_page
    actor = Actor.system("owner@acme.test")
    bot = Agent.objects.create(tenant=tenant, name="support-bot")
    services.mint_key(tenant, actor, name="support-bot", agent=bot)
    old, _ = services.mint_key(tenant, actor, name="legacy-sync", scopes=["agents:read"])
    services.revoke_key(tenant, actor, old, reason="replaced")
    nightly, _ = services.mint_key(
        tenant, actor, name="nightly-export", scopes=["audit:read", "agents:read"]
    )
    terraform, _ = services.mint_key(
        tenant, actor, name="terraform", expires_at=timezone.now() + dt.timedelta(days=90)
    )
    ApiKey.objects.filter(pk__in=[nightly.pk, terraform.pk]).update(
        last_used_at=timezone.now() - dt.timedelta(minutes=4), last_used_ip="203.0.113.7"
    )
    page.reload()
    row(page, nightly).get_by_text("Rotate…").click()
    row(page, nightly).get_by_label("Keep the old key working for").select_option(label="24 hours")
    row(page, nightly).get_by_role("button", name="Rotate key").click()
    expect(page.locator(".secret-panel")).to_be_visible()
    screenshot(page, "api-keys", readme=True)
    assert page.js_errors == []


def test_a_shown_key_never_reaches_the_htmx_history_cache(owner_page, tenant):
    page = owner_page
    shown = mint_in_page(page, "ci")
    # Filtering pushes a history entry: htmx snapshots the page into its history cache first.
    page.get_by_label("Status").select_option("active")
    page.wait_for_url("**status=active**")
    stored = page.evaluate("JSON.stringify([sessionStorage, localStorage])")
    assert shown not in stored
    page.get_by_label("Kind").select_option("admin")
    page.wait_for_url("**kind=admin**")
    assert shown not in page.evaluate("JSON.stringify([sessionStorage, localStorage])")
    # Back to a pushed entry that has no snapshot: htmx asks the server, which answers the
    # whole page (not a fragment) to a history-restore request.
    page.go_back()
    page.wait_for_url("**status=active&kind=")
    expect(page.locator(".secret-panel")).to_have_count(0)
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_text("Create API key")).to_be_visible()
    expect(page.locator("#key-table tr[data-key-prefix]")).to_have_count(1)
    assert shown not in page.content()
    assert page.js_errors == []


def test_leaving_and_coming_back_does_not_show_the_key_again(owner_page, tenant):
    page = owner_page
    shown = mint_in_page(page, "ci")
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/audit-log")
    page.go_back()
    page.wait_for_url(f"**{KEYS}")
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    assert shown not in page.content()
    assert page.js_errors == []


def test_any_secret_panel_swapped_in_is_kept_out_of_the_history_cache(owner_page):
    # A panel from another template that lacks hx-history="false" still gets it.
    marked = owner_page.evaluate(
        """() => {
            const panel = document.createElement("div");
            panel.className = "secret-panel";
            document.querySelector("main").appendChild(panel);
            document.body.dispatchEvent(new CustomEvent("htmx:afterSwap", {bubbles: true}));
            return panel.getAttribute("hx-history");
        }"""
    )
    assert marked == "false"
