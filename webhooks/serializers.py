"""JSON for webhooks and deliveries (SPEC §11). The secret only in the answer that made it."""

from portal.serializers import ts


def webhook(h, *, secret: str | None = None) -> dict:
    data = {
        "id": str(h.pk),
        "url": h.url,
        "description": h.description,
        "eventTypes": list(h.event_types),
        "isActive": h.is_active,
        "disabledReason": h.disabled_reason or None,
        "createdAt": ts(h.created_at),
        "updatedAt": ts(h.updated_at),
    }
    if secret is not None:
        data["secret"] = secret
    return data


def delivery(d) -> dict:
    return {
        "id": str(d.pk),
        "eventType": d.event_type,
        "webhookId": str(d.webhook_id),
        "status": d.status,
        "attempts": list(d.attempts),
        "nextAttemptAt": ts(d.next_attempt_at),
        "createdAt": ts(d.created_at),
    }
