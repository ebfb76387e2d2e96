"""A person manages agents in Chromium: create an agent and copy its first key, add a 1-minute
grant and watch its countdown, deactivate the agent, and read its usage chart."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from access.actor import Actor
from agents import services
from agents.models import Agent, Grant
from apikeys.models import KeyUsage
from tests.browser.conftest import log_in, screenshot
from tests.conftest import ApiClient, make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGENTS = "/t/acme-corp/portal/agents"
SYSTEM = Actor.system("tests")


@pytest.fixture
def admin_page(page, tenant):
    make_member(tenant, "admin@acme.test", "admin")
    log_in(page, "admin@acme.test")
    return page


@pytest.fixture
def made(tenant):
    services.create_role(
        tenant, SYSTEM, slug="support-agent", name="Support", permissions=["read:tickets"]
    )
    return services.create_agent(tenant, SYSTEM, name="support-bot", roles=["support-agent"])


def test_create_an_agent_and_copy_its_key(admin_page, tenant):
    page = admin_page
    services.create_role(
        tenant, SYSTEM, slug="support-agent", name="Support", permissions=["read:tickets"]
    )
    page.goto(AGENTS)
    page.get_by_label("Name", exact=True).fill("Support Assistant")
    page.get_by_label("Type", exact=True).select_option("ai_assistant")
    page.get_by_label("Description").fill("Answers tickets")
    page.get_by_label("support-agent").check()
    page.get_by_label("Direct permissions").fill("read:reports, write:tickets")
    page.get_by_label("Expires").select_option(label="30 days")
    page.get_by_role("button", name="Create agent and its first key").click()

    panel = page.locator(".secret-panel")
    expect(panel).to_contain_text("You won't be able to see this key again")
    shown = page.locator("#minted-key").input_value()
    assert shown.startswith("sk_agent_live_")
    agent = Agent.objects.get(tenant=tenant)
    assert agent.type == "ai_assistant" and agent.permissions == ["read:reports", "write:tickets"]
    row = page.locator(f'tr[data-agent-id="{agent.pk}"]')
    expect(row).to_contain_text("Support Assistant")
    expect(row).to_contain_text("support-agent")
    expect(page.get_by_label("Name", exact=True)).to_have_value("")

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == shown
    assert ApiClient(shown).get("/t/acme-corp/api/v1/agents/me").status_code == 200

    # Filtering pushes a history entry; the key must not land in htmx's history cache.
    page.get_by_label("Show type").select_option("ai_assistant")
    page.wait_for_url("**type=ai_assistant**")
    assert shown not in page.evaluate("JSON.stringify([sessionStorage, localStorage])")

    page.get_by_role("button", name="Dismiss").click()
    expect(panel).to_have_count(0)
    assert page.js_errors == []


def test_add_a_one_minute_grant_and_see_its_countdown(admin_page, made):
    page = admin_page
    agent = made[0]
    page.goto(f"{AGENTS}/{agent.pk}")
    page.get_by_label("Permission to grant").fill("write:refunds")
    page.get_by_label("Grant duration").select_option(label="1 minute")
    page.get_by_label("Reason for the grant").fill("ticket 42")
    page.get_by_role("button", name="Add grant").click()

    grant_row = page.locator("tr.grant-row")
    expect(grant_row).to_contain_text("write:refunds")
    countdown = grant_row.locator("time[data-countdown]")
    expect(countdown).to_have_text(re.compile(r"^\d+s left$"))
    first = int(countdown.inner_text().removesuffix("s left"))
    assert 50 <= first <= 60
    expect(countdown).not_to_have_text(f"{first}s left", timeout=3000)
    assert int(countdown.inner_text().removesuffix("s left")) < first
    grant = Grant.objects.get(agent=agent)
    assert dt.timedelta(seconds=50) < grant.expires_at - timezone.now() <= dt.timedelta(minutes=1)
    # The effective access set shows it with its source.
    expect(page.locator("table.access-set")).to_contain_text(f"grant:{grant.pk}")
    assert page.js_errors == []


def test_copy_the_token_curl_line_and_revoke_every_token(admin_page, made, settings):
    from django.test import Client

    page = admin_page
    agent, _, secret = made
    token = (
        Client()
        .post(
            "/t/acme-corp/api/v1/oauth/token",
            {
                "grant_type": "client_credentials",
                "client_id": str(agent.pk),
                "client_secret": secret,
            },
            content_type="application/json",
        )
        .json()["access_token"]
    )
    page.goto(f"{AGENTS}/{agent.pk}")
    panel = page.locator("#agent-oauth")
    expect(panel.locator("#oauth-live-tokens")).to_have_text("1")
    panel.get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f'curl -s -u "{agent.pk}:$TESSERA_KEY" ')
    assert copied.endswith(f"{settings.PUBLIC_URL}/t/acme-corp/api/v1/oauth/token")

    panel.get_by_text("Revoke all tokens…").click()
    page.get_by_role("button", name="Revoke all tokens of support-bot").click()
    expect(page.locator("#flash")).to_contain_text("Every token of “support-bot” revoked")
    expect(page.locator("#oauth-live-tokens")).to_have_text("0")
    bearer = {"Authorization": f"Bearer {token}"}
    assert Client().get("/t/acme-corp/api/v1/agents/me", headers=bearer).status_code == 401
    assert page.js_errors == []


def test_deactivate_the_agent_and_see_its_status_change(admin_page, made):
    page = admin_page
    agent, _, secret = made
    page.goto(f"{AGENTS}/{agent.pk}")
    status = page.locator("#agent-status")
    expect(status).to_have_text("active")
    page.get_by_text("Deactivate…").click()
    page.get_by_role("button", name="Deactivate agent").click()
    expect(status).to_have_text("inactive")
    expect(page.get_by_role("button", name="Activate agent")).to_be_visible()
    agent.refresh_from_db()
    assert agent.is_active is False
    assert ApiClient(secret).get("/t/acme-corp/api/v1/agents/me").status_code == 401

    page.get_by_role("button", name="Activate agent").click()
    expect(status).to_have_text("active")
    assert page.js_errors == []


def test_usage_chart_renders_as_svg_bars(admin_page, tenant, made):
    page = admin_page
    agent, key, _ = made
    today = timezone.now().date()
    for days_ago, count in [(0, 12), (1, 30), (6, 4), (20, 17)]:
        KeyUsage.objects.create(
            tenant=tenant,
            key=key,
            agent=agent,
            date=today - dt.timedelta(days=days_ago),
            count=count,
        )
    page.goto(f"{AGENTS}/{agent.pk}")
    chart = page.locator(".chart svg")
    expect(chart).to_be_visible()
    bars = chart.locator("rect.bar")
    expect(bars).to_have_count(30)
    heights = {
        bars.nth(i).get_attribute("data-date"): float(bars.nth(i).get_attribute("height"))
        for i in range(30)
    }
    assert sum(1 for h in heights.values() if h > 0) == 4
    tallest = max(heights, key=heights.get)
    assert tallest == (today - dt.timedelta(days=1)).isoformat()
    assert chart.bounding_box()["height"] > 50
    expect(page.locator("#agent-activity")).to_contain_text("63 requests in the last 30 days")
    screenshot(page, "agent-page", readme=True)
    assert page.js_errors == []
