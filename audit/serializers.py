"""JSON for audit events (SPEC §5)."""

from portal.serializers import ts


def _ref(type_, id_, name):
    return {"type": type_, "id": id_ or None, "name": name}


def event(e) -> dict:
    return {
        "id": str(e.pk),
        "occurredAt": ts(e.occurred_at),
        "action": e.action,
        "actor": _ref(e.actor_type, e.actor_id, e.actor_name),
        "target": _ref(e.target_type, e.target_id, e.target_name) if e.target_type else None,
        "ip": e.ip,
        "userAgent": e.user_agent,
        "metadata": e.metadata or {},
    }
