"""JSON for audit events (SPEC §5), with the chain's hashes (SPEC §13)."""

from portal.serializers import ts


def _ref(type_, id_, name):
    return {"type": type_, "id": id_ or None, "name": name}


def content(e) -> dict:
    """The event's own fields: what its hash covers (audit.chain), and all the JSON but the
    hashes. Changing this changes every hash: existing chains would no longer verify."""
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


def event(e) -> dict:
    return {**content(e), "prevHash": e.prev_hash, "hash": e.hash}
