"""The portal shows and sets per-key permissions and quotas (SPEC §15)."""

import pytest

from access import ratelimit
from agents.models import Agent
from apikeys.models import ApiKey
from tests.access.conftest import call
from tests.guardrails.conftest import ME

pytestmark = pytest.mark.django_db
PORTAL = "/t/acme-corp/portal"


def test_the_agent_page_shows_used_of_limit_and_when_it_resets(admin_client, bot, admin_call):
    admin_call("patch", f"agents/{bot['id']}", {"quota": {"limit": 1000, "period": "day"}})
    for _ in range(3):
        call("get", ME, credential=bot["apiKey"])
    page = admin_client.get(f"{PORTAL}/agents/{bot['id']}").content.decode()
    assert "3 / 1000 calls this day" in page
    assert "resets in" in page


def test_the_agent_edit_form_sets_and_clears_the_quota(admin_client, bot):
    url = f"{PORTAL}/agents/{bot['id']}"
    form = {"name": "report-bot", "type": "service", "quotaLimit": "50", "quotaPeriod": "month"}
    assert admin_client.post(url, form).status_code in (200, 303)
    agent = Agent.objects.get(pk=bot["id"])
    assert (agent.quota_limit, agent.quota_period) == (50, "month")
    admin_client.post(url, {**form, "quotaLimit": ""})
    agent.refresh_from_db()
    assert (agent.quota_limit, agent.quota_period) == (None, "")


def test_a_bad_quota_in_a_form_is_an_error_in_place(admin_client, bot):
    url = f"{PORTAL}/agents/{bot['id']}"
    response = admin_client.post(
        url, {"name": "report-bot", "quotaLimit": "0", "quotaPeriod": "day"}
    )
    assert response.status_code == 400
    assert "from 1 to" in response.content.decode()
    assert Agent.objects.get(pk=bot["id"]).quota_limit is None


def test_the_mint_form_narrows_a_key_and_a_blank_box_keeps_all(admin_client, bot):
    url = f"{PORTAL}/agents/{bot['id']}/keys"
    admin_client.post(url, {"name": "narrow", "permissions": "read:reports", "quotaLimit": ""})
    admin_client.post(
        url, {"name": "wide", "permissions": "", "quotaLimit": "10", "quotaPeriod": "day"}
    )
    narrow = ApiKey.objects.get(name="narrow")
    wide = ApiKey.objects.get(name="wide")
    assert (narrow.permissions, narrow.quota_limit) == (["read:reports"], None)
    assert (wide.permissions, wide.quota_limit, wide.quota_period) == (None, 10, "day")


def test_the_key_page_shows_and_edits_permissions_and_quota(admin_client, bot):
    key_id = bot["keys"][0]["id"]
    url = f"{PORTAL}/settings/api-keys/{key_id}"
    form = {
        "name": "first",
        "permissions": "read:reports, read:invoices",
        "quotaLimit": "7",
        "quotaPeriod": "day",
    }
    assert admin_client.post(url, form).status_code in (200, 303)
    key = ApiKey.objects.get(pk=key_id)
    assert (key.permissions, key.quota_limit) == (["read:reports", "read:invoices"], 7)
    call("get", ME, credential=bot["apiKey"])
    page = admin_client.get(url).content.decode()
    assert "<code>read:reports</code>" in page
    assert "1 / 7 calls this day" in page
    assert ratelimit.quota_status(key).used == 1
