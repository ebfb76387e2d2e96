"""Helpers the agents, keys, grants and roles modules share."""

import datetime as dt

from django.db import IntegrityError, transaction

from agents.models import Agent
from portal.errors import Conflict, NotFound


def _by(actor, prefix: str) -> dict:
    """The actor, as the `<prefix>_type/_id/_name` columns of a new row."""
    return {
        f"{prefix}_type": actor.type,
        f"{prefix}_id": actor.id,
        f"{prefix}_name": actor.name[:200],
    }


def _save_unique(obj, message: str) -> None:
    """Save; a unique-constraint race lost to a concurrent transaction is a 409, not a 500."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise Conflict(message) from None


def _plain(value):
    """A value as it may appear in audit metadata (JSON)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _lock(queryset, obj):
    """Re-read `obj` from a tenant's queryset under a row lock (a vanished row is a 404)."""
    locked = queryset.select_for_update().filter(pk=obj.pk).first()
    if locked is None:
        raise NotFound()
    return locked


def _lock_agent(tenant, agent) -> Agent:
    return _lock(tenant.agents, agent)
