"""Helpers the keys and lifecycle modules share: a new key row, its audit fields, the lock."""

from django.utils import timezone

from access import keyformat
from apikeys.models import ApiKey
from apikeys.serializers import quota as quota_json
from portal.errors import NotFound


def _new_key(
    tenant,
    actor,
    *,
    kind,
    name,
    scopes,
    expires_at,
    agent,
    rate_limit_per_minute,
    allowed_ips,
    permissions=None,
    quota_limit=None,
    quota_period="",
    rotated_from=None,
    now=None,
    meta=None,
):
    parsed = keyformat.generate(kind)
    pepper_id, digest = keyformat.digest(parsed.full)
    key = ApiKey.objects.create(
        tenant=tenant,
        agent=agent,
        kind=kind,
        name=name,
        public_id=parsed.public_id,
        digest=digest,
        pepper_id=pepper_id,
        scopes=list(scopes or []),
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute,
        allowed_ips=allowed_ips or None,
        meta=dict(meta or {}),
        permissions=list(permissions) if permissions is not None else None,
        quota_limit=quota_limit or None,
        quota_period=quota_period if quota_limit else "",
        created_at=now or timezone.now(),
        created_by_type=actor.type,
        created_by_id=actor.id,
        created_by_name=actor.name[:200],
        rotated_from=rotated_from,
    )
    return key, parsed.full


def _audit_key(key: ApiKey) -> dict:
    return {
        "prefix": key.prefix,
        "kind": key.kind,
        "agentId": str(key.agent_id) if key.agent_id else None,
        "scopes": list(key.scopes),
        "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
        "permissions": key.permissions,
        "quota": quota_json(key),
    }


def _lock(tenant, key) -> ApiKey:
    """Re-read the key under a row lock, from the tenant (a vanished key is a 404)."""
    locked = (
        tenant.api_keys.select_for_update(of=("self",))
        .select_related("agent")
        .filter(pk=key.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    return locked
