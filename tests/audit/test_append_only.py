"""Audit events are append-only: the model refuses every update and delete."""

import pytest
from django.db import transaction

from access.actor import Actor
from audit.models import AppendOnlyError, AuditEvent
from audit.services import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(tenant):
    return record(tenant, Actor.system("tests"), "agent.created", metadata={"n": 1})


def test_saving_an_existing_event_again_is_refused(event):
    event.action = "agent.deleted"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "agent.created"


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_bulk_update_and_delete_through_querysets_are_refused(event):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="agent.deleted")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        event.tenant.audit_events.all().delete()
    event.action = "x"
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["action"])
    assert AuditEvent.objects.get(pk=event.pk).action == "agent.created"


def test_new_events_are_always_inserted_never_overwriting(event, tenant):
    twin = AuditEvent(
        id=event.pk, tenant=tenant, action="agent.deleted", actor_type="user", actor_name="x"
    )
    with pytest.raises(Exception):  # noqa: B017  (an IntegrityError, whatever the database)
        twin.save()


def test_secrets_are_refused_in_metadata(tenant):
    with pytest.raises(ValueError):
        record(tenant, Actor.system("tests"), "agent.created", metadata={"apiKey": "lmk_x"})
