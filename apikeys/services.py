"""API key lifecycle. Every rule and every write for keys lives here.

Each service is one transaction that locks the key row (`select_for_update`), checks the state
after locking, and records its audit event inside the same transaction. The plaintext key is
returned to the caller exactly once and is never stored, logged or audited.
"""

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from access import keyformat, tokens
from access.actor import Actor
from access.rules import ADMIN_SCOPES  # noqa: F401
from apikeys.models import ApiKey
from apikeys.serializers import quota as quota_json
from audit.services import record
from portal.errors import Conflict, Forbidden, Invalid, NotFound

MAX_GRACE_SECONDS = 7 * 24 * 3600


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
            permissions=permissions,
            quota_limit=quota_limit,
            quota_period=quota_period,
        )
        record(tenant, actor, "api_key.created", target=key, metadata=_audit_key(key))
    return key, secret


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


def replace_keys(tenant, actor, keys, *, grace_period: int = 0, name=None):
    """Replace live `keys` (already locked) by one new key; the old ones are revoked now
    (grace 0) or deprecated with `expiresAt = now + grace`. Returns (new_key, plaintext).

    The new key keeps the first key's name (unless `name` is given), scopes, agent, rate limit,
    allowlist, permissions and quota, and the same lifetime counted from now (none if it had none).
    """
    if not keys:
        raise Conflict("There is no live key to rotate.")
    if not 0 <= grace_period <= MAX_GRACE_SECONDS:
        raise Invalid({"gracePeriod": [f"Must be from 0 to {MAX_GRACE_SECONDS} seconds."]})
    now = timezone.now()
    template = keys[0]
    for key in keys:
        if key.replaced_by_id:
            raise Conflict(f"Key {key.prefix} was already rotated.")
        if key.status == ApiKey.Status.REVOKED or key.is_expired(now):
            raise Conflict(f"Key {key.prefix} is {key.display_status}; it cannot be rotated.")
    if template.kind == ApiKey.Kind.ADMIN:
        check_no_escalation(actor, template.scopes)
    elif actor.scopes is not None and "agents:write" not in actor.scopes:
        # Replacing an agent's key hands out that agent's credential: it takes agents:write,
        # not just api_keys:write.
        raise Forbidden("Rotating an agent's key needs the 'agents:write' scope.")
    lifetime = template.expires_at - template.created_at if template.expires_at else None
    try:
        with transaction.atomic():
            new_key, secret = _new_key(
                tenant,
                actor,
                kind=template.kind,
                name=name or template.name,
                scopes=template.scopes,
                expires_at=now + lifetime if lifetime else None,
                agent=template.agent,
                rate_limit_per_minute=template.rate_limit_per_minute,
                allowed_ips=template.allowed_ips,
                permissions=template.permissions,
                quota_limit=template.quota_limit,
                quota_period=template.quota_period,
                rotated_from=template if len(keys) == 1 else None,
                now=now,
            )
    except IntegrityError:
        # apikey_one_successor: a concurrent rotation got there first.
        raise Conflict(f"Key {template.prefix} was already rotated.") from None
    record(
        tenant,
        actor,
        "api_key.created",
        target=new_key,
        metadata={**_audit_key(new_key), "rotatedFromIds": [str(k.pk) for k in keys]},
    )
    for key in keys:
        changes = {"replaced_by": new_key}
        if grace_period:
            deadline = now + dt.timedelta(seconds=grace_period)
            changes.update(
                status=ApiKey.Status.DEPRECATED,
                deprecated_at=key.deprecated_at or now,
                # A grace period never lengthens a key's life.
                expires_at=min(key.expires_at, deadline) if key.expires_at else deadline,
            )
        else:
            changes.update(
                status=ApiKey.Status.REVOKED,
                revoked_at=now,
                revoked_reason="rotated",
                revoked_by_rotation=True,
            )
        # The guard in the WHERE clause makes a second, concurrent rotation a no-op even where
        # the database has no row locks (SQLite): exactly one successor, ever.
        updated = (
            ApiKey.objects.filter(pk=key.pk, replaced_by__isnull=True)
            .exclude(status=ApiKey.Status.REVOKED)
            .update(**changes)
        )
        if not updated:
            raise Conflict(f"Key {key.prefix} was already rotated.")
        for field, value in changes.items():
            setattr(key, field, value)
        record(
            tenant,
            actor,
            "api_key.rotated",
            target=key,
            metadata={
                "prefix": key.prefix,
                "status": key.status,
                "newKeyId": str(new_key.pk),
                "newPrefix": new_key.prefix,
                "gracePeriod": grace_period,
                "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
            },
        )
    return new_key, secret


def rotate_key(tenant, actor, key, *, grace_period: int = 0):
    """Mint a replacement with the same settings; the old key is revoked or deprecated."""
    with transaction.atomic():
        locked = _lock(tenant, key)
        return replace_keys(tenant, actor, [locked], grace_period=grace_period)


def _transition(tenant, actor, key, action, *, check, metadata=None, **changes):
    """Lock the key, let `check` refuse the transition (409), apply `changes`, audit it."""
    with transaction.atomic():
        locked = _lock(tenant, key)
        check(locked, timezone.now())
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=list(changes))
        event = {"prefix": locked.prefix, "status": locked.status}
        if changes.get("revoked_reason"):
            event["reason"] = changes["revoked_reason"]
        record(tenant, actor, action, target=locked, metadata={**event, **(metadata or {})})
    return locked


def _can_deprecate(key, now):
    if key.status != ApiKey.Status.ACTIVE:
        raise Conflict(f"Only an active key can be deprecated; this one is {key.status}.")
    if key.is_expired(now):
        raise Conflict("The key has expired; there is nothing left to deprecate.")


def _can_activate(key, now):
    if key.status != ApiKey.Status.DEPRECATED:
        raise Conflict(f"Only a deprecated key can be activated; this one is {key.status}.")
    if key.is_expired(now):
        raise Conflict("The key has expired; it cannot be activated again.")


def _can_revoke(key, now):
    if key.status == ApiKey.Status.REVOKED:
        raise Conflict("The key is already revoked.")


def deprecate_key(tenant, actor, key):
    """active → deprecated: the key still authenticates, and every use is flagged."""
    return _transition(
        tenant,
        actor,
        key,
        "api_key.deprecated",
        check=_can_deprecate,
        status=ApiKey.Status.DEPRECATED,
        deprecated_at=timezone.now(),
    )


def activate_key(tenant, actor, key):
    """deprecated → active (undo a deprecation), unless the key is past its expiry."""
    return _transition(
        tenant,
        actor,
        key,
        "api_key.activated",
        check=_can_activate,
        status=ApiKey.Status.ACTIVE,
        deprecated_at=None,
    )


def revoke_key(tenant, actor, key, *, reason: str = ""):
    """active/deprecated → revoked, for good; the tokens it minted end with it, whatever the
    reason says."""
    return _transition(
        tenant,
        actor,
        key,
        "api_key.revoked",
        check=_can_revoke,
        status=ApiKey.Status.REVOKED,
        revoked_at=timezone.now(),
        revoked_reason=reason or "",
        revoked_by_rotation=False,
    )


def revoke_rotated_key(tenant, actor, key):
    """Revoke a key still in the grace window of its rotation, as part of a new rotation: its
    tokens live on until they expire, as those of any key a rotation revokes."""
    return _transition(
        tenant,
        actor,
        key,
        "api_key.revoked",
        check=_can_revoke,
        status=ApiKey.Status.REVOKED,
        revoked_at=timezone.now(),
        revoked_reason="rotated",
        revoked_by_rotation=True,
    )


def _can_revoke_leaked(key, now):
    _can_revoke(key, now)
    if key.is_expired(now):
        raise Conflict("The key has expired; it no longer works.")


def revoke_leaked_key(key, *, source: str = "public report"):
    """A live key reported as leaked is revoked at once, as `api_key.leaked` (a system actor).
    Every token it minted ends too, even if a rotation had revoked the key already (then it
    is a 409 for the key itself: there is nothing left to revoke)."""
    if key.status == ApiKey.Status.REVOKED:
        with transaction.atomic():
            if tokens.end_tokens(key_id=key.pk):
                record(
                    key.tenant,
                    Actor.system(source),
                    "oauth.tokens_revoked",
                    target=("api_key", str(key.pk), key.name),
                    metadata={"source": source, "prefix": key.prefix},
                )
        raise Conflict("The key is already revoked.")
    with transaction.atomic():
        tokens.end_tokens(key_id=key.pk)
        return _leak_transition(key, source)


def _leak_transition(key, source):
    return _transition(
        key.tenant,
        Actor.system(source),
        key,
        "api_key.leaked",
        check=_can_revoke_leaked,
        metadata={"source": source},
        status=ApiKey.Status.REVOKED,
        revoked_at=timezone.now(),
        revoked_reason="leaked",
    )


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
