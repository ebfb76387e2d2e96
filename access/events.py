"""What a door reports: a use of a key, and the refusal of a key that exists (SPEC §3, §6b).

`access` knows no feature app, so it sends these as signals; `apikeys` receives them into its
usage buffer and records `api_key.rejected` in the key's own tenant (`apikeys.apps`).
"""

import logging

from django.dispatch import Signal

from access.actor import Actor

log = logging.getLogger("tessera.auth")

# key_used(key, ip): count one use of the key. key_rejected(key, actor, metadata): audit it.
key_used = Signal()
key_rejected = Signal()
# Set by the usage buffer's app: `(key, ip) -> (counts hash, field, last hash, field, value)` when
# its buffer is the Redis that `access.shared` talks to, so a use rides the request's round trip.
shared_use = None


def record_use(key, ip: str | None, request=None) -> None:
    """Count one use of `key`, unless the request's round trip to Redis already handed it to
    the usage buffer (`request.uses_handed`, by `access.shared`)."""
    handed = getattr(request, "uses_handed", None)
    if handed and key.public_id in handed:
        handed.remove(key.public_id)
        return
    key_used.send(sender=None, key=key, ip=ip)


def reject(key, reason: str, *, request=None, source_ip=None, **extra) -> None:
    """Record `api_key.rejected` for `key` (never the secret): `reason`, and the request's
    method and path when there is one (a refresh has only the client's address)."""
    log.info("rejected API key %s: %s", key.prefix, reason)
    metadata = {"reason": reason}
    if request is not None:
        metadata.update(method=request.method, path=request.path)
        actor = Actor.for_key(key, request)
    else:
        actor = Actor.for_key(key)
        actor.ip = source_ip
    metadata.update(extra)
    key_rejected.send(sender=None, key=key, actor=actor, metadata=metadata)
