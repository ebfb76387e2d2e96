"""The data steps of agents 0003 and apikeys 0003: name keys filled in for existing agents,
stored empty allowlists turned into null (no restriction, as they always behaved)."""

import datetime as dt
import importlib

import pytest
from django.apps import apps

from agents.models import Agent
from apikeys.models import ApiKey
from tests.conftest import mint_admin_key

pytestmark = pytest.mark.django_db

agents_0003 = importlib.import_module("agents.migrations.0003_name_casefold")
apikeys_0003 = importlib.import_module("apikeys.migrations.0003_rotation_backstop")


def test_existing_agents_get_their_case_folded_name_key(tenant):
    agent = Agent.objects.create(tenant=tenant, name="Straße")
    Agent.objects.filter(pk=agent.pk).update(name_key="")
    agents_0003.fill_name_keys(apps, None)
    agent.refresh_from_db()
    assert (agent.name, agent.name_key) == ("Straße", "strasse")


def test_stored_empty_allowlists_become_null(tenant):
    agent = Agent.objects.create(tenant=tenant, name="open", allowed_ips=["10.0.0.0/8"])
    key, _ = mint_admin_key(tenant)
    Agent.objects.filter(pk=agent.pk).update(allowed_ips=[])
    ApiKey.objects.filter(pk=key.pk).update(allowed_ips=[])
    agents_0003.empty_allowlists_to_null(apps, None)
    apikeys_0003.empty_allowlists_to_null(apps, None)
    agent.refresh_from_db()
    key.refresh_from_db()
    assert agent.allowed_ips is None and key.allowed_ips is None


def test_allowlists_with_addresses_are_kept(tenant):
    agent = Agent.objects.create(tenant=tenant, name="fenced", allowed_ips=["10.0.0.0/8"])
    agents_0003.empty_allowlists_to_null(apps, None)
    agent.refresh_from_db()
    assert agent.allowed_ips == ["10.0.0.0/8"]


def test_names_that_clashed_only_under_unicode_folding_get_a_numbered_suffix(tenant):
    # What SQLite's ASCII-only LOWER() let through before: `Café` and, later, `CAFÉ`.
    first = Agent.objects.create(tenant=tenant, name="Café")
    second = Agent.objects.create(tenant=tenant, name="placeholder")
    Agent.objects.filter(pk=second.pk).update(
        name="CAFÉ", name_key="stale", created_at=first.created_at + dt.timedelta(seconds=1)
    )
    agents_0003.fill_name_keys(apps, None)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.name, first.name_key) == ("Café", "café")
    assert (second.name, second.name_key) == ("CAFÉ (2)", "café (2)")
