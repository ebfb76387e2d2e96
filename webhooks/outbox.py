"""The outbox: `enqueue` runs inside `audit.services.record`, so every audit event becomes a
delivery row per subscribed webhook in the same transaction as the change."""

import json
import uuid

from django.core.serializers.json import DjangoJSONEncoder

from audit import serializers as audit_serializers
from webhooks.models import Delivery


def event_data(tenant, event) -> dict:
    return {**audit_serializers.event(event), "tenant": tenant.slug}


def body(event_type: str, timestamp: str, data: dict) -> str:
    payload = {"type": event_type, "timestamp": timestamp, "data": data}
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))


def delivery(tenant, webhook, event_type, payload, now) -> Delivery:
    return Delivery(
        tenant=tenant,
        webhook=webhook,
        event_type=event_type,
        message_id=f"msg_{uuid.uuid4().hex}",
        payload=payload,
        next_attempt_at=now,
        created_at=now,
    )


def on_event_recorded(sender, tenant, event, **kwargs) -> None:
    enqueue(tenant, event)


def enqueue(tenant, event) -> list[Delivery]:
    """One pending delivery per active webhook of `tenant` subscribed to the event's action."""
    hooks = [h for h in tenant.webhooks.filter(is_active=True) if h.subscribes(event.action)]
    if not hooks:
        return []
    data = event_data(tenant, event)
    payload = body(event.action, data["occurredAt"], data)
    rows = [delivery(tenant, h, event.action, payload, event.occurred_at) for h in hooks]
    return Delivery.objects.bulk_create(rows)
