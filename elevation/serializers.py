"""JSON for elevation requests (SPEC §15)."""

from portal.serializers import ts


def grant_request(r) -> dict:
    return {
        "id": str(r.pk),
        "agentId": str(r.agent_id),
        "status": r.status,
        "permissions": list(r.permissions),
        "reason": r.reason,
        "durationSeconds": r.duration_seconds,
        "createdAt": ts(r.created_at),
        "expiresAt": ts(r.expires_at),
        "decidedAt": ts(r.decided_at),
        "decidedBy": (
            {"type": r.decided_by_type, "id": r.decided_by_id or None, "name": r.decided_by_name}
            if r.decided_by_type
            else None
        ),
        "note": r.note,
    }
