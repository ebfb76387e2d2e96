"""Destructive actions confirm, naming what they act on, with and without JavaScript: rotating
all of an agent's keys and deleting an agent ask for its name to be typed; revoking a grant is a
disclosure opened first (hx-confirm asked only when JavaScript ran)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from access.actor import Actor
from agents import services
from agents.models import Agent, Grant
from apikeys.models import ApiKey
from tests.browser.conftest import log_in
from tests.conftest import make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SYSTEM = Actor.system("tests")


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def admin_page(request, browser, live_server, tenant):
    ctx = browser.new_context(
        base_url=live_server.url,
        java_script_enabled=request.param,
        viewport={"width": 1280, "height": 900},
    )
    ctx.set_default_timeout(10_000)
    page = ctx.new_page()
    make_member(tenant, "admin@acme.test", "admin")
    log_in(page, "admin@acme.test")
    yield page
    ctx.close()


@pytest.fixture
def agent(tenant):
    agent, _, _ = services.create_agent(tenant, SYSTEM, name="support-bot")
    services.mint_agent_key(tenant, SYSTEM, agent, name="second")
    return agent


def test_rotate_all_keys_asks_for_the_name_and_keeps_old_keys_by_default(admin_page, agent):
    page = admin_page
    page.goto(f"/t/acme-corp/portal/agents/{agent.pk}")
    page.locator("summary", has_text="Rotate all keys").click()
    expect(page.get_by_label("Keep the old keys working for")).to_have_value("86400")
    page.get_by_label("Type the agent's name").last.fill("support-bo")  # a typo
    page.get_by_role("button", name="Rotate all keys of support-bot").click()
    expect(page.get_by_text("Type the agent's name, “support-bot”, to confirm.")).to_be_visible()
    assert not ApiKey.objects.filter(rotated_from__isnull=False).exists()

    page.goto(f"/t/acme-corp/portal/agents/{agent.pk}")
    page.locator("summary", has_text="Rotate all keys").click()
    page.locator("#rotate-all-confirm").fill("support-bot")
    page.get_by_role("button", name="Rotate all keys of support-bot").click()
    expect(page.locator(".secret-panel")).to_be_visible()
    old = ApiKey.objects.filter(agent=agent, replaced_by__isnull=False)
    assert old.count() == 2 and {k.status for k in old} == {"deprecated"}


def test_deleting_an_agent_asks_for_its_name(admin_page, agent):
    page = admin_page
    page.goto(f"/t/acme-corp/portal/agents/{agent.pk}")
    page.locator("summary", has_text="Delete").first.click()
    page.locator("#delete-confirm").fill("support-bot")
    page.get_by_role("button", name="Delete agent and its keys").click()
    expect(page.get_by_text("and its keys deleted")).to_be_visible()
    assert not Agent.objects.exists()


def test_revoking_a_grant_is_confirmed_in_a_disclosure(admin_page, agent, tenant):
    page = admin_page
    grant = services.create_grant(
        tenant, SYSTEM, agent, permission="write:refunds",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )  # fmt: skip
    page.goto(f"/t/acme-corp/portal/agents/{agent.pk}")
    button = page.get_by_role("button", name="Revoke grant of write:refunds")
    expect(button).to_be_hidden()  # nothing is revoked by one stray click
    page.locator(f'tr[data-grant-id="{grant.pk}"] summary').click()
    button.click()
    expect(page.locator(f'tr[data-grant-id="{grant.pk}"]')).to_have_count(0)
    assert not Grant.objects.exists()
