"""Agent names are unique per tenant under Unicode case folding (SPEC §4), on SQLite as on
PostgreSQL: the comparison uses a stored, case-folded NFC key, not the database's LOWER()."""

import pytest
from django.db import IntegrityError, transaction

from agents.models import Agent, name_key
from tests.agents.conftest import ADMIN, make_agent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Café-x", "CAFÉ-x"),
        ("Straße", "STRASSE"),
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
        ("Cafe\u0301", "CAFÉ"),  # decomposed é, NFC-normalised on the way in
    ],
)
def test_names_that_fold_alike_clash(api, first, second):
    assert api.post(f"{ADMIN}/agents", {"name": first}).status_code == 201
    response = api.post(f"{ADMIN}/agents", {"name": second})
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert Agent.objects.count() == 1


def test_renaming_onto_a_name_that_folds_alike_is_a_409(api, tenant):
    make_agent(tenant, name="Café-x")
    other = make_agent(tenant, name="other")[0]
    response = api.patch(f"{ADMIN}/agents/{other.pk}", {"name": "CAFÉ-X"})
    assert response.status_code == 409
    other.refresh_from_db()
    assert other.name == "other"


def test_changing_only_the_case_of_its_own_name_is_allowed(api, tenant):
    agent = make_agent(tenant, name="Café-x")[0]
    response = api.patch(f"{ADMIN}/agents/{agent.pk}", {"name": "CAFÉ-X"})
    assert response.status_code == 200
    agent.refresh_from_db()
    assert (agent.name, agent.name_key) == ("CAFÉ-X", "café-x")


def test_the_same_name_in_another_tenant_is_fine(tenant, other_tenant):
    make_agent(tenant, name="Café-x")
    make_agent(other_tenant, name="CAFÉ-x")
    assert Agent.objects.count() == 2


def test_the_database_refuses_a_second_name_that_folds_alike(tenant):
    Agent.objects.create(tenant=tenant, name="Café-x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(tenant=tenant, name="CAFÉ-X")


def test_the_key_follows_a_rename_saved_with_update_fields(tenant):
    agent = Agent.objects.create(tenant=tenant, name="Before")
    agent.name = "AFTER"
    agent.save(update_fields=["name"])
    assert Agent.objects.get(pk=agent.pk).name_key == "after" == name_key("After")
