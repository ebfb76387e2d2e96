"""JSON for agents, roles, grants and access sets (SPEC §5, §6). Explicit, never model_to_dict.

`agent()` reads `roles`, `keys` through `.all()`, so list views prefetch them.
"""

from access.ratelimit import quota_status
from access.rules import access_set, key_access_set, narrow
from apikeys.serializers import key as key_json
from apikeys.serializers import quota
from portal.serializers import ts, uid


def _by(obj, prefix: str) -> dict:
    return {
        "type": getattr(obj, f"{prefix}_type"),
        "id": getattr(obj, f"{prefix}_id") or None,
        "name": getattr(obj, f"{prefix}_name"),
    }


def agent(a, *, secret: str | None = None) -> dict:
    data = {
        "id": str(a.pk),
        "clientId": str(a.pk),  # its OAuth client id (SPEC §10)
        "name": a.name,
        "description": a.description,
        "type": a.type,
        "roles": sorted(role.slug for role in a.roles.all()),
        "permissions": list(a.permissions or []),
        "isActive": a.is_active,
        "allowedIps": list(a.allowed_ips) if a.allowed_ips else None,
        "expiresAt": ts(a.expires_at),
        "lastUsedAt": ts(a.last_used_at),
        "lastUsedIp": a.last_used_ip,
        "rateLimitPerMinute": a.rate_limit_per_minute,
        "meta": dict(a.meta or {}),
        "quota": quota(a),
        "createdAt": ts(a.created_at),
        "updatedAt": ts(a.updated_at),
        "createdBy": _by(a, "created_by"),
        "keys": [key_json(k) for k in a.keys.all()],
    }
    if secret is not None:
        data["apiKey"] = secret
    return data


def me(a, key) -> dict:
    """`/agents/me`: the agent, what the calling key may do now (`keyPermissions`: the agent's
    access set narrowed to the key's own permissions), and the agent's quota with its use in
    the current period (SPEC §15). `keyPermissions` come from the row authentication read when
    it holds the agent's access set (`key.access`); else from `grants` through `.all()`:
    prefetch them."""
    data = agent(a)
    entries = (
        key_access_set(key) if key.access is not None else narrow(access_set(a), key.permissions)
    )
    data["keyPermissions"] = sorted({e["permission"] for e in entries})
    status = quota_status(a)
    data["quota"] = status.as_json() if status else None
    return data


def role(r) -> dict:
    return {
        "slug": r.slug,
        "name": r.name,
        "permissions": list(r.permissions or []),
        "createdAt": ts(r.created_at),
        "updatedAt": ts(r.updated_at),
    }


def grant(g) -> dict:
    return {
        "id": str(g.pk),
        "agentId": uid(g.agent_id),
        "permission": g.permission,
        "expiresAt": ts(g.expires_at),
        "expired": g.is_expired(),
        "reason": g.reason,
        "grantedBy": _by(g, "granted_by"),
        "createdAt": ts(g.created_at),
    }


def access_entry(entry: dict) -> dict:
    return {
        "permission": entry["permission"],
        "source": entry["source"],
        "expiresAt": ts(entry["expiresAt"]),
    }


def usage(summary: dict) -> dict:
    return {
        "total": summary["total"],
        "byKey": [
            {"keyId": str(row["key_id"]), "prefix": row["prefix"], "count": row["count"]}
            for row in summary["by_key"]
        ],
        "daily": [{"date": day.isoformat(), "count": count} for day, count in summary["daily"]],
    }
