"""`Idempotency-Key` (SPEC §15): claim a key before the creating request runs, keep its answer
(without the secret) for 24 hours, and prune what is older.

The claim is an INSERT under a unique constraint on (tenant, credential, key), committed before
the view runs: of two concurrent first attempts exactly one inserts, and the other finds the
row (in progress → 409; finished → the stored answer). Nothing here is audited: a replay
changes nothing, and the first answer's own service already recorded its event.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from idempotency.models import IdempotencyKey
from portal.errors import Conflict, Unprocessable

TTL = dt.timedelta(hours=24)
# The fields that carry a secret in a creating answer; a replay shows them as null.
SECRET_FIELDS = ("apiKey", "secret", "client_secret")


@dataclass(frozen=True)
class Replay:
    status: int
    body: object


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def claim(tenant, credential: str, key: str, digest: str, now=None) -> IdempotencyKey | Replay:
    """The new in-progress row (the caller runs the request), or the earlier answer to replay.

    Raises Unprocessable when the key was used with another request, Conflict while the
    first request with it is still running."""
    now = now or timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    tenant=tenant,
                    credential=credential,
                    key=key,
                    request_hash=digest,
                    created_at=now,
                )
        except IntegrityError:
            pass
        existing = IdempotencyKey.objects.filter(
            tenant=tenant, credential=credential, key=key
        ).first()
        if existing is None:
            continue  # released meanwhile (the first attempt failed): claim it again
        if existing.created_at <= now - TTL:
            # Past its 24 hours (not yet pruned): the key is free again.
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_hash != digest:
            raise Unprocessable(
                "This Idempotency-Key was already used with another request; "
                "send a new key for a new request."
            )
        if existing.status_code is None:
            raise Conflict("A request with this Idempotency-Key is still running; retry later.")
        return Replay(existing.status_code, existing.body)
    raise Conflict("A request with this Idempotency-Key is still running; retry later.")


def without_secrets(body):
    if isinstance(body, dict):
        return {k: (None if k in SECRET_FIELDS and v is not None else v) for k, v in body.items()}
    return body


def complete(row: IdempotencyKey, status: int, body) -> None:
    """Keep the answer (its secret fields nulled) for replays."""
    IdempotencyKey.objects.filter(pk=row.pk).update(status_code=status, body=without_secrets(body))


def release(row: IdempotencyKey) -> None:
    """The request failed without an answer worth keeping: the key may be sent again."""
    IdempotencyKey.objects.filter(pk=row.pk, status_code__isnull=True).delete()


def prune_idempotency_keys(now=None) -> int:
    """Delete keys older than 24 hours; returns how many (run by the worker)."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=cutoff).delete()
    return deleted
