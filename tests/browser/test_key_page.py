"""A person opens a key's page in Chromium, edits its note and rate limit in place, reads times
relative to now with the exact time (and their own time zone) on hover, and searches the keys."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apikeys.models import ApiKey
from tests.browser.conftest import log_in
from tests.conftest import make_member, mint_admin_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEYS = "/t/acme-corp/portal/settings/api-keys"


@pytest.fixture
def tokyo_page(page, tenant):
    """A logged-in owner whose browser lives in Tokyo (UTC+9)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    make_member(tenant, "owner@acme.test", "owner")
    log_in(page, "owner@acme.test")
    return page


def test_edit_a_key_on_its_page_and_read_its_times(tokyo_page, tenant):
    page = tokyo_page
    key, _ = mint_admin_key(tenant, name="ci")
    used = timezone.now() - dt.timedelta(hours=3)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=used)
    page.goto(KEYS)
    page.get_by_role("link", name="ci", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ci")

    last_used = page.locator("dl.key-facts time[data-relative]").nth(1)
    expect(last_used).to_have_text("3 hours ago")
    title = last_used.get_attribute("title")
    assert "(Asia/Tokyo)" in title and f"{used:%Y-%m-%d %H:%M}" in title and "UTC" in title

    page.get_by_text(re.compile(r"^Edit name, note, rate limit")).click()
    page.get_by_label("Note").fill("deploys the web app")
    page.get_by_label("Rate limit, requests per minute").fill("30")
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#key-detail [role=status]")).to_contain_text("saved.")
    expect(page.locator("#key-detail .key-note")).to_have_text("deploys the web app")
    expect(page.locator("#key-detail")).to_contain_text("30 requests per minute")
    key.refresh_from_db()
    assert key.note == "deploys the web app" and key.rate_limit_per_minute == 30
    expect(page.get_by_role("table", name="The key's last 20 audit events")).to_contain_text(
        "api_key.updated"
    )

    # A bad edit lands in place, with what was typed kept.
    page.get_by_text(re.compile(r"^Edit name, note, rate limit")).click()
    page.get_by_label("Allowed IPs or CIDR ranges").fill("999.1.1.1")
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#flash")).to_contain_text("allowedIps")
    expect(page.get_by_label("Allowed IPs or CIDR ranges")).to_have_value("999.1.1.1")
    assert page.js_errors == []


def test_search_the_keys_table_as_you_type(tokyo_page, tenant):
    page = tokyo_page
    mint_admin_key(tenant, name="ci-deploy")
    mint_admin_key(tenant, name="billing")
    page.goto(KEYS)
    page.get_by_label("Search by name, note or prefix").fill("bill")
    expect(page.locator("#key-table tbody tr")).to_have_count(1)
    expect(page.locator("#key-table")).to_contain_text("billing")
    assert "q=bill" in page.url
    assert page.js_errors == []


def test_rotate_on_the_key_page_leaves_the_address_at_the_keys_list(tokyo_page, tenant):
    """The page that shows the new key answers a form post and cannot redirect (the key lives
    only in its body), but the address bar moves to the keys list: a reload shows the list, with
    no key and no second rotation."""
    page = tokyo_page
    key, _ = mint_admin_key(tenant, name="ci")
    page.goto(f"{KEYS}/{key.pk}")
    page.get_by_text("Rotate…").click()
    page.get_by_role("button", name="Rotate key").click()
    shown = page.locator("#minted input[readonly]")
    expect(shown).to_have_value(re.compile(r"^lmk_"))
    assert page.url.endswith(KEYS), page.url
    assert ApiKey.objects.filter(tenant=tenant).count() == 2

    page.reload()
    assert page.url.endswith(KEYS), page.url
    expect(page.get_by_role("link", name="ci", exact=True)).to_have_count(2)
    expect(page.locator("#minted input[readonly]")).to_have_count(0)
    assert ApiKey.objects.filter(tenant=tenant).count() == 2
    assert page.js_errors == []
