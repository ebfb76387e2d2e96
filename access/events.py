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


def record_use(key, ip: str | None) -> None:
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
