"""JSON for API keys (SPEC §5). Never includes the digest; the secret only when minted."""

from portal.serializers import ts, uid


def key(k, *, secret: str | None = None) -> dict:
    data = {
        "id": str(k.pk),
        "name": k.name,
        "prefix": k.prefix,
        "kind": k.kind,
        "agentId": uid(k.agent_id),
        "status": k.status,
        "scopes": list(k.scopes),
        "expiresAt": ts(k.expires_at),
        "lastUsedAt": ts(k.last_used_at),
        "lastUsedIp": k.last_used_ip,
        "createdAt": ts(k.created_at),
        "createdBy": {
            "type": k.created_by_type,
            "id": k.created_by_id or None,
            "name": k.created_by_name,
        },
        "deprecatedAt": ts(k.deprecated_at),
        "revokedAt": ts(k.revoked_at),
        "rotatedFromId": uid(k.rotated_from_id),
        "replacedById": uid(k.replaced_by_id),
        "rateLimitPerMinute": k.rate_limit_per_minute,
        "allowedIps": list(k.allowed_ips) if k.allowed_ips else None,
        "note": k.note,
        "meta": dict(k.meta or {}),
        # An agent key's own permissions (null: all of its agent's access set; SPEC §15).
        "permissions": list(k.permissions) if k.permissions is not None else None,
        "quota": quota(k),
    }
    if secret is not None:
        data["apiKey"] = secret
    return data


def quota(owner) -> dict | None:
    """`{limit, period}` of an agent's or key's quota, or None (SPEC §15)."""
    if not owner.quota_limit:
        return None
    return {"limit": owner.quota_limit, "period": owner.quota_period}
