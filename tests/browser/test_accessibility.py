"""Every portal page, at 1280 px and 390 px, with every <details> opened: axe-core finds no
violation and nothing scrolls sideways (document.scrollingElement.scrollWidth <= innerWidth)."""

import datetime as dt
import json
from pathlib import Path

import pytest

from access.actor import Actor
from agents import services as agent_services
from apikeys import services as key_services
from elevation import services as elevation_services
from tests.browser.conftest import log_in
from tests.conftest import make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PORTAL = "/t/acme-corp/portal"
WIDTHS = (1280, 390)


@pytest.fixture
def seeded(tenant):
    owner = make_member(tenant, "owner@acme.test", "owner")
    make_member(tenant, "viewer@acme.test", "viewer")
    actor = Actor("user", str(owner.pk), owner.email)
    agent_services.create_role(
        tenant, actor, name="Support", slug="support", permissions=["tickets:read"]
    )
    agent, key, _ = agent_services.create_agent(
        tenant,
        actor,
        name="support-bot-with-a-rather-long-name-for-narrow-screens",
        type="service",
        roles=["support"],
        permissions=["tickets:write"],
    )
    key_services.rotate_key(tenant, actor, key, grace_period=86400)
    # A pending elevation request: the overview, the agent page and the navigation show it.
    elevation_services.create_request(
        tenant,
        actor,
        agent,
        permissions=["write:payments", "read:ledger"],
        reason="refund order 42 for a customer with a rather long explanation",
        duration_seconds=600,
    )
    admin_key, _ = key_services.mint_key(
        tenant,
        actor,
        name="ci-deploy",
        scopes=["api_keys:read"],
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
    )
    return {"agent": agent, "key": admin_key}


def pages(seeded):
    agent, key = seeded["agent"], seeded["key"]
    return [
        "/",
        f"{PORTAL}/",
        f"{PORTAL}/agents",
        f"{PORTAL}/agents/{agent.pk}",
        f"{PORTAL}/roles",
        f"{PORTAL}/settings/api-keys",
        f"{PORTAL}/settings/api-keys/{key.pk}",
        f"{PORTAL}/audit-log",
        f"{PORTAL}/grant-requests",
        f"{PORTAL}/settings/members",
        "/account/password",
    ]


OPEN_ALL = "document.querySelectorAll('details').forEach(d => { d.open = true; })"
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary),
  }));
}"""


# The outermost elements reaching past the window's right edge, to say what scrolls.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > innerWidth + 1
    && !(el.parentElement && el.parentElement.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 5).map(el => el.tagName + '.' + el.className + '#' + el.id + ' ' +
    Math.round(el.getBoundingClientRect().right))"""


@pytest.fixture
def axe_context(browser, live_server):
    # The pages' CSP (rightly) refuses an injected script; the checks need axe in the page.
    ctx = browser.new_context(base_url=live_server.url, bypass_csp=True)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_has_no_axe_violation_and_no_sideways_scroll(axe_context, seeded, width):
    assert AXE.exists(), "node_modules/axe-core is missing: scripts/test installs it with npm"
    page = axe_context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, "owner@acme.test")
    problems = {}
    for url in pages(seeded):
        response = page.goto(url)
        assert response.ok, f"{url}: {response.status}"
        page.evaluate(OPEN_ALL)
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(AXE_RUN)
        overflow = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        if violations:
            problems[url] = violations
        if overflow[0] > overflow[1]:
            wide = page.evaluate(WIDEST)
            problems.setdefault(url, []).append({"sideways-scroll": overflow, "wide": wide})
    assert problems == {}, json.dumps(problems, indent=1)
