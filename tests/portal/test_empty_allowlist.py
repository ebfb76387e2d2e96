"""`allowedIps` (SPEC §4): null means no restriction; an empty list is refused with a 400 and
never stored as "no restriction", on keys and agents, through the API and portal forms."""

import pytest

from agents.models import Agent
from apikeys.models import ApiKey
from tests.agents.conftest import make_agent

pytestmark = pytest.mark.django_db

ADMIN = "/t/acme-corp/api/v1/admin"
PORTAL = "/t/acme-corp/portal"


def refused(response):
    assert response.status_code == 400, response.content
    assert "allowedIps" in response.json()["details"]
    return True


def test_minting_an_admin_key_with_an_empty_allowlist_is_a_400(api):
    keys = ApiKey.objects.count()
    assert refused(api.post(f"{ADMIN}/api-keys", {"name": "k", "allowedIps": []}))
    assert ApiKey.objects.count() == keys


def test_creating_an_agent_with_an_empty_allowlist_is_a_400(api):
    assert refused(api.post(f"{ADMIN}/agents", {"name": "bot", "allowedIps": []}))
    assert not Agent.objects.exists()


def test_patching_an_agent_to_an_empty_allowlist_is_a_400_and_keeps_the_old_one(api, tenant):
    agent = make_agent(tenant, name="fenced", allowed_ips=["10.0.0.0/8"])[0]
    assert refused(api.patch(f"{ADMIN}/agents/{agent.pk}", {"allowedIps": []}))
    agent.refresh_from_db()
    assert agent.allowed_ips == ["10.0.0.0/8"]


def test_minting_an_agent_key_with_an_empty_allowlist_is_a_400(api, tenant):
    agent = make_agent(tenant, name="bot")[0]
    assert refused(api.post(f"{ADMIN}/agents/{agent.pk}/keys", {"name": "k", "allowedIps": []}))


def test_null_allowlist_means_no_restriction(api):
    response = api.post(f"{ADMIN}/agents", {"name": "open", "allowedIps": None})
    assert response.status_code == 201
    assert response.json()["allowedIps"] is None


def test_a_blank_allowlist_box_in_the_portal_means_no_restriction(owner_client):
    response = owner_client.post(f"{PORTAL}/agents", {"name": "portal-bot", "allowedIps": ""})
    assert response.status_code in (200, 201, 302)
    assert Agent.objects.get(name="portal-bot").allowed_ips is None


def test_a_portal_allowlist_with_addresses_is_stored(owner_client):
    owner_client.post(f"{PORTAL}/agents", {"name": "portal-bot", "allowedIps": "10.0.0.1, ::1"})
    assert Agent.objects.get(name="portal-bot").allowed_ips == ["10.0.0.1/32", "::1/128"]
