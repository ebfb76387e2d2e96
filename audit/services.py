"""Recording audit events. Services call `record` inside their own transaction, never views."""

from django.dispatch import Signal

from audit.models import AuditEvent

# Sent inside `record`'s caller's transaction with (tenant, event): the webhook outbox adds its
# delivery rows there (`webhooks.apps`), so audit knows nothing of webhooks.
event_recorded = Signal()

_SECRET_KEYS = {"apikey", "api_key", "secret", "key", "password", "token"}


def target_ref(obj) -> tuple[str, str, str]:
    """(type, id, name) of anything the trail can point at."""
    if obj is None:
        return "", "", ""
    if isinstance(obj, tuple):
        return obj
    label = obj._meta.model_name
    kind = {"apikey": "api_key", "user": "user"}.get(label, label)
    name = getattr(obj, "name", None) or getattr(obj, "email", None) or str(obj)
    if label == "role":
        name = obj.slug
    if label == "grant":
        name = obj.permission
    return kind, str(obj.pk), str(name)[:200]


def record(tenant, actor, action: str, *, target=None, metadata=None) -> AuditEvent:
    """Append one event to the tenant's chain (audit.chain), in the caller's transaction: the
    chain's head stays locked until it commits. `metadata` must never hold a secret; keys named
    like one are refused."""
    metadata = dict(metadata or {})
    leaked = _SECRET_KEYS & {k.lower() for k in metadata}
    if leaked:
        raise ValueError(f"audit metadata may not carry secrets: {sorted(leaked)}")
    target_type, target_id, target_name = target_ref(target)
    event = AuditEvent.objects.create(
        tenant=tenant,
        action=action,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name[:200],
        target_type=target_type,
        target_id=target_id,
        target_name=target_name,
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:500],
        metadata=metadata,
    )
    event_recorded.send(sender=AuditEvent, tenant=tenant, event=event)
    return event
