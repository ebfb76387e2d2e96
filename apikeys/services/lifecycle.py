"""A key's lifecycle: rotation (replacing keys by one new key), deprecation, activation,
revocation, and the revocation of a leaked key."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from access import tokens
from access.actor import Actor
from apikeys.models import ApiKey
from apikeys.services._common import _audit_key, _lock, _new_key
from apikeys.services.keys import check_no_escalation
from audit.services import record
from portal.errors import Conflict, Forbidden, Invalid

MAX_GRACE_SECONDS = 7 * 24 * 3600


def replace_keys(tenant, actor, keys, *, grace_period: int = 0, name=None):
    """Replace live `keys` (already locked) by one new key; the old ones are revoked now
    (grace 0) or deprecated with `expiresAt = now + grace`. Returns (new_key, plaintext).

    The new key keeps the first key's name (unless `name` is given), scopes, agent, rate limit,
    allowlist, metadata, permissions and quota, and the same lifetime counted from now (none if
    it had none).
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
                meta=template.meta,
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
    return _revoke(tenant, actor, key, reason=reason or "", by_rotation=False)


def revoke_rotated_key(tenant, actor, key):
    """Revoke a key still in the grace window of its rotation, as part of a new rotation: its
    tokens live on until they expire, as those of any key a rotation revokes."""
    return _revoke(tenant, actor, key, reason="rotated", by_rotation=True)


def _revoke(tenant, actor, key, *, reason: str, by_rotation: bool):
    # Whether a rotation revoked the key is recorded here, never read back from `reason`.
    return _transition(
        tenant,
        actor,
        key,
        "api_key.revoked",
        check=_can_revoke,
        status=ApiKey.Status.REVOKED,
        revoked_at=timezone.now(),
        revoked_reason=reason,
        revoked_by_rotation=by_rotation,
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
