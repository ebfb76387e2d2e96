"""Keys: minting (no scope a scoped key lacks), changing the editable settings, deleting."""

from django.db import transaction
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services._common import _audit_key, _lock, _new_key
from audit.services import record
from portal.errors import Forbidden, Invalid


def check_no_escalation(actor, scopes) -> None:
    """A scoped key can never mint a key with a scope it lacks (and empty = full admin)."""
    limited = actor.scopes
    if limited is None:
        return
    if not scopes:
        raise Forbidden("A scoped key cannot mint a full-admin key (no scopes).")
    missing = sorted(set(scopes) - set(limited))
    if missing:
        raise Forbidden(f"A key cannot grant scopes it lacks itself: {', '.join(missing)}.")


def mint_key(
    tenant,
    actor,
    *,
    name,
    scopes=(),
    expires_at=None,
    agent=None,
    rate_limit_per_minute=None,
    allowed_ips=None,
    meta=None,
    permissions=None,
    quota_limit=None,
    quota_period="",
):
    """Mint a key: admin (no agent) or agent. Returns (key, plaintext) — show it once.
    `permissions` (agent keys only; None: all of the agent's access set) narrow what the key
    may do; `quota_limit` uses per `quota_period` ("day" | "month") bound it (SPEC §15)."""
    kind = ApiKey.Kind.AGENT if agent is not None else ApiKey.Kind.ADMIN
    if kind == ApiKey.Kind.ADMIN:
        check_no_escalation(actor, scopes)
        if permissions is not None:
            raise Invalid({"permissions": ["Only agent keys carry permissions."]})
    else:
        scopes = ()
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid({"expiresAt": ["Must be in the future."]})
    with transaction.atomic():
        key, secret = _new_key(
            tenant,
            actor,
            kind=kind,
            name=name,
            scopes=scopes,
            expires_at=expires_at,
            agent=agent,
            rate_limit_per_minute=rate_limit_per_minute,
            allowed_ips=allowed_ips,
            meta=meta,
            permissions=permissions,
            quota_limit=quota_limit,
            quota_period=quota_period,
        )
        record(tenant, actor, "api_key.created", target=key, metadata=_audit_key(key))
    return key, secret


def delete_key(tenant, actor, key) -> None:
    """Remove the record; the key stops working. Its audit trail stays."""
    with transaction.atomic():
        locked = _lock(tenant, key)
        record(
            tenant,
            actor,
            "api_key.deleted",
            target=locked,
            metadata={"prefix": locked.prefix, "status": locked.display_status},
        )
        locked.delete()


# Editable settings of a key: service keyword → JSON name (for the audit's `changes`).
UPDATABLE = {
    "name": "name",
    "note": "note",
    "rate_limit_per_minute": "rateLimitPerMinute",
    "allowed_ips": "allowedIps",
    "meta": "meta",
    "permissions": "permissions",
    "quota_limit": "quota",
    "quota_period": "quota",
}


def update_key(tenant, actor, key, **changes):
    """Rename a key, or change its note, rate limit or IP allowlist (any key, any status: a
    revoked key's note and name still tell people what it was). Audited as `api_key.updated`
    with the names of the fields that changed."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"update_key() got unknown fields: {sorted(unknown)}")
    if "allowed_ips" in changes:
        changes["allowed_ips"] = changes["allowed_ips"] or None
    if "meta" in changes:
        changes["meta"] = dict(changes["meta"] or {})
    with transaction.atomic():
        locked = _lock(tenant, key)
        if changes.get("permissions") is not None and locked.kind != ApiKey.Kind.AGENT:
            raise Invalid({"permissions": ["Only agent keys carry permissions."]})
        changed = [f for f, v in changes.items() if getattr(locked, f) != v]
        if not changed:
            return locked
        for field in changed:
            setattr(locked, field, changes[field])
        locked.save(update_fields=changed)
        record(
            tenant,
            actor,
            "api_key.updated",
            target=locked,
            metadata={
                "prefix": locked.prefix,
                "changes": list(dict.fromkeys(UPDATABLE[f] for f in changed)),
            },
        )
    return locked
