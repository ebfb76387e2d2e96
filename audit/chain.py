"""The tamper-evident chain of a tenant's audit events (SPEC §13).

Each event stores `prev_hash`, the hash of the tenant's previous event (`GENESIS` for the
first), and `hash = SHA-256(prev_hash + canonical JSON of the event)`, with `seq` its position.
The canonical JSON is the event exactly as the API serves it (SPEC §5, without the two hashes)
plus `"tenant": "<slug>"`, keys sorted, no whitespace, UTF-8: so an auditor recomputes every
hash from an export alone (README, "Checking an export offline").
"""

import hashlib
import json
import uuid
from collections import namedtuple
from dataclasses import dataclass

from django.db import connections

from audit import serializers

GENESIS = "0" * 64
VERIFY_CHUNK = 2000
# pg_advisory_xact_lock(namespace, key): the namespace keeps the chain's locks apart from any
# other advisory lock; the key is the tenant's (two tenants sharing one only wait for each other).
_LOCK_NAMESPACE = 0x41554454  # "AUDT"
# What verification reads of each event: plain rows, as model instances would double its time.
_Row = namedtuple(
    "_Row",
    "pk seq prev_hash hash occurred_at action actor_type actor_id actor_name target_type "
    "target_id target_name ip user_agent metadata",
)


def canonical(event, tenant_slug: str) -> bytes:
    content = serializers.content(event)
    content["tenant"] = tenant_slug
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(prev_hash: str, event, tenant_slug: str) -> str:
    """The hash an event must carry after `prev_hash` (both as 64 lowercase hex digits)."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(event, tenant_slug)).hexdigest()


def lock_head(tenant_id, using: str) -> None:
    """Hold the tenant's chain until the transaction ends, so two appends never read the same
    head (a fork). SQLite needs nothing: its transactions begin IMMEDIATE (portal.settings), so
    a writer already holds the database's one write lock before it reads the head."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(uuid.UUID(str(tenant_id)).bytes[:4], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, key])


@dataclass(frozen=True)
class Verdict:
    ok: bool
    events: int
    broken_at: str | None = None
    reason: str | None = None

    def as_json(self) -> dict:
        if self.ok:
            return {"ok": True, "events": self.events}
        return {"ok": False, "brokenAt": self.broken_at, "reason": self.reason}


def verify(tenant, *, chunk_size: int = VERIFY_CHUNK) -> Verdict:
    """Walk the tenant's chain in order, streaming, and name the first event that breaks it.

    Cut off the last events and the rest still verifies: compare the newest hash with one kept
    elsewhere (an earlier export) to see that too.
    """
    expected_prev, expected_seq, count = GENESIS, 1, 0
    rows = tenant.audit_events.order_by("seq").values_list(*_Row._fields)
    for event in map(_Row._make, rows.iterator(chunk_size=chunk_size)):
        reason = None
        if event.seq != expected_seq:
            reason = (
                f"its position {event.seq} does not follow {expected_seq - 1}: "
                "an event before it was deleted or moved"
            )
        elif event.prev_hash != expected_prev:
            reason = (
                "prevHash is not the hash of the event before it: an event was deleted, "
                "inserted or reordered"
            )
        elif digest(event.prev_hash, event, tenant.slug) != event.hash:
            reason = "the event's content does not match its hash: it was changed"
        if reason:
            return Verdict(ok=False, events=count, broken_at=str(event.pk), reason=reason)
        expected_prev, expected_seq, count = event.hash, expected_seq + 1, count + 1
    return Verdict(ok=True, events=count)
