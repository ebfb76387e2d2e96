"""Portal details a tenant admin meets on every page: success messages beside in-place
(HTMX) updates, the nav marking the current page, the favicon."""

import re

import pytest
from django.contrib.staticfiles import finders

from tests.agents.conftest import PORTAL, make_agent, make_role
from tests.conftest import HTMX

pytestmark = pytest.mark.django_db


def flash_oob(response) -> str:
    """The out-of-band #flash update appended to a fragment ('' when there is none)."""
    match = re.search(
        r'<div id="flash" aria-live="polite" hx-swap-oob="innerHTML">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    return match.group(1) if match else ""


def test_creating_a_role_in_place_says_so(admin_client):
    response = admin_client.post(
        f"{PORTAL}/roles",
        {"name": "Support", "slug": "support", "permissions": "tickets:read"},
        headers=HTMX,
    )
    assert response.status_code == 201
    assert "Role “support” created." in flash_oob(response)


def test_editing_deactivating_and_activating_an_agent_in_place_say_so(admin_client, tenant):
    agent = make_agent(tenant, name="bot")[0]
    base = f"{PORTAL}/agents/{agent.pk}"
    edit = {"name": "bot", "type": agent.type, "description": "new", "roles": [""]}
    assert "Agent “bot” saved." in flash_oob(admin_client.post(base, edit, headers=HTMX))
    off = admin_client.post(f"{base}/deactivate", headers=HTMX)
    assert "Agent “bot” deactivated." in flash_oob(off)
    on = admin_client.post(f"{base}/activate", headers=HTMX)
    assert "Agent “bot” activated." in flash_oob(on)


def test_a_fragment_without_news_leaves_the_messages_alone(admin_client, tenant):
    make_role(tenant)
    assert flash_oob(admin_client.get(f"{PORTAL}/roles", headers=HTMX)) == ""


@pytest.mark.parametrize(
    "path, label",
    [
        ("/", "Overview"),
        ("/agents", "Agents"),
        ("/roles", "Roles"),
        ("/settings/api-keys", "API keys"),
    ],
)
def test_the_nav_marks_the_current_page(admin_client, path, label):
    html = admin_client.get(PORTAL.rstrip("/") + path).content.decode()
    nav = html.split('<nav aria-label="Tenant">', 1)[1].split("</nav>", 1)[0]
    current = re.findall(r'<a href="[^"]+" aria-current="page">([^<]+)</a>', nav)
    assert current == [label]


def test_pages_link_a_favicon_that_exists(admin_client):
    html = admin_client.get(f"{PORTAL}/agents").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)"', html).group(1)
    assert href.endswith("favicon.svg")
    assert finders.find("favicon.svg")
