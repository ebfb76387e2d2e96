"""A person answers an agent's elevation request and edits an agent's metadata in Chromium."""

import pytest
from playwright.sync_api import expect

from access.actor import Actor
from agents import services
from agents.models import Grant
from elevation import services as elevation
from elevation.models import GrantRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PORTAL = "/t/acme-corp/portal"
SYSTEM = Actor.system("tests")


@pytest.fixture
def admin_page(member_page):
    return member_page("admin")


@pytest.fixture
def agent(tenant):
    return services.create_agent(tenant, SYSTEM, name="payments-bot")[0]


def test_approve_an_elevation_request_from_the_overview(admin_page, tenant, agent):
    elevation.create_request(
        tenant,
        SYSTEM,
        agent,
        permissions=["write:payments"],
        reason="refund order 42",
        duration_seconds=600,
    )
    page = admin_page
    page.goto(f"{PORTAL}/")
    expect(page.locator("#nav-grant-requests")).to_contain_text("1")
    requests = page.locator("#grant-requests")
    expect(requests).to_contain_text("payments-bot")
    expect(requests).to_contain_text("refund order 42")
    requests.get_by_role("button", name="Approve").click()
    expect(requests).to_contain_text("None: no agent is waiting")
    expect(page.locator("#flash")).to_contain_text("approved")
    assert GrantRequest.objects.get().status == "approved"
    assert Grant.objects.get(agent=agent).permission == "write:payments"


def test_invalid_json_metadata_shows_the_error_in_place(admin_page, agent):
    page = admin_page
    page.goto(f"{PORTAL}/agents/{agent.pk}")
    page.locator("#agent-summary summary", has_text="Edit metadata").click()
    box = page.get_by_label("Metadata, a JSON object")
    box.fill('{"team": "billing",}')
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#flash .flash-error")).to_contain_text("Not valid JSON")
    expect(box).to_have_value('{"team": "billing",}')
    agent.refresh_from_db()
    assert agent.meta == {}
    box.fill('{"team": "billing"}')
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#agent-summary pre.meta")).to_contain_text('"team": "billing"')
    agent.refresh_from_db()
    assert agent.meta == {"team": "billing"}
