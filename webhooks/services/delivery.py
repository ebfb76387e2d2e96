"""Delivery: claiming due rows under a lease, one attempt each, its record, retries, and
disabling an endpoint that keeps failing.

The worker (`manage.py runworker`, through `webhooks/jobs.py`) holds no rules: its delivery
job runs a `Courier` (claims, sends on a few threads, records); tests call it directly with a
fake clock (`now`).
"""

import datetime as dt
import functools
import json
import logging
import random
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from access.actor import Actor
from audit.services import record
from portal import metrics
from portal.serializers import ts
from webhooks import signing, transport
from webhooks.models import Delivery, Webhook
from webhooks.services.subscriptions import signing_secrets

RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]  # seconds after each failure
JITTER = 0.1  # ± 10 %
DISABLE_AFTER = dt.timedelta(days=5)

log = logging.getLogger("tessera.webhooks")


def system_actor(name: str) -> Actor:
    return Actor.system(name)


def lease_seconds() -> float:
    """One attempt and its recording: an attempt ends by its deadline, and the margin covers the
    worker's loop getting round to record it (a scheduled job may be running meanwhile)."""
    return settings.WEBHOOK_ATTEMPT_DEADLINE + settings.WEBHOOK_LEASE_MARGIN


def claim_due(*, now=None, limit=20, skip_webhooks=()) -> list[Delivery]:
    """Lease up to `limit` due deliveries to this worker. With SKIP LOCKED (PostgreSQL) several
    workers claim disjoint batches; a killed worker's lease expires and another sends its rows.
    `skip_webhooks`: endpoints this worker is sending to already (one attempt at a time each)."""
    now = now or timezone.now()
    skip = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        qs = (
            Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .exclude(webhook_id__in=list(skip_webhooks))
            .order_by("next_attempt_at")
        )
        ids = list(qs.select_for_update(skip_locked=skip).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        token = uuid.uuid4().hex
        lease = now + dt.timedelta(seconds=lease_seconds())
        Delivery.objects.filter(pk__in=ids).update(lease_until=lease, lease_token=token)
    batch = Delivery.objects.filter(pk__in=ids).select_related("webhook", "tenant")
    return list(batch.order_by("next_attempt_at", "created_at"))


def _ours(delivery):
    """The row while this worker still holds its lease (a row never claimed is nobody's)."""
    return Delivery.objects.filter(
        pk=delivery.pk, lease_token=delivery.lease_token or None, status=Delivery.Status.PENDING
    )


def hold(delivery, *, now=None) -> bool:
    """Renew this worker's lease right before an attempt. False when another worker took the row
    or it is gone (its endpoint was deleted): then nothing is sent."""
    now = now or timezone.now()
    return bool(_ours(delivery).update(lease_until=now + dt.timedelta(seconds=lease_seconds())))


def release(deliveries) -> None:
    """Give back claimed rows this worker will not attempt: due again at once, for any worker."""
    for d in deliveries:
        _ours(d).update(lease_until=None)


def prepare(delivery, *, now):
    """The attempt to make (a call for a delivery thread), or None: the lease is lost, the
    endpoint deleted, or disabled (then recorded as a final failure)."""
    if not hold(delivery, now=now):
        return None
    hook = Webhook.objects.filter(pk=delivery.webhook_id).first()
    if hook is None:
        return None
    if not hook.is_active:
        disabled = transport.Outcome(None, "webhook disabled", 0)
        record_attempt(delivery, now=now, outcome=disabled, final=True)
        return None
    stamp = int(now.timestamp())
    headers = signing.headers(
        signing_secrets(hook, now), delivery.message_id, stamp, delivery.payload
    )
    headers["content-type"] = "application/json"
    limits = transport.Limits.from_settings()
    return functools.partial(transport.post, hook.url, delivery.payload.encode(), headers, limits)


def send(delivery: Delivery, *, now=None) -> Delivery | None:
    """One attempt of a claimed delivery on this thread, then its record (None if not recorded)."""
    now = now or timezone.now()
    attempt = prepare(delivery, now=now)
    if attempt is None:
        return Delivery.objects.filter(pk=delivery.pk).first()
    return record_attempt(delivery, now=now, outcome=attempt())


def retry_delay(index: int, rng=random) -> float | None:
    if index >= len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[index]
    return base * rng.uniform(1 - JITTER, 1 + JITTER)


def record_attempt(delivery, *, now, outcome, final=False) -> Delivery | None:
    """Record an attempt, only while this worker holds the delivery's lease: a worker whose lease
    ran out records nothing (the worker that took the row over records its own attempt), and a
    delivery whose endpoint was deleted meanwhile just ends. None when nothing was recorded."""
    attempt = {
        "at": ts(now),
        "statusCode": outcome.status_code,
        "durationMs": outcome.duration_ms,
        "error": outcome.error or None,
    }
    with transaction.atomic():
        d = _ours(delivery).select_for_update().first()
        if d is None:
            return None
        metrics.webhook_attempt(outcome.status_code)
        hook = Webhook.objects.select_for_update().get(pk=d.webhook_id)  # locked row: still there
        d.attempts = [*d.attempts, attempt]
        d.lease_until = None
        if outcome.ok:
            d.status = Delivery.Status.DELIVERED
            d.delivered_at = now
            d.next_attempt_at = None
            if hook.failing_since:
                hook.failing_since = None
                hook.save(update_fields=["failing_since"])
        else:
            delay = None if final else retry_delay(d.retry_index)
            d.retry_index += 1
            if delay is None:
                d.status = Delivery.Status.FAILED
                d.next_attempt_at = None
            else:
                d.next_attempt_at = now + dt.timedelta(seconds=delay)
            if hook.is_active:
                if hook.failing_since is None:
                    hook.failing_since = now
                    hook.save(update_fields=["failing_since"])
                reason = None
                if outcome.status_code == 410:
                    reason = "410 Gone"
                elif now - hook.failing_since >= DISABLE_AFTER:
                    reason = "No successful delivery for 5 days"
                if reason:
                    disable_webhook(hook, reason, now=now)
                    d.status, d.next_attempt_at = Delivery.Status.FAILED, None
        d.save()
    return d


def disable_webhook(hook, reason, *, now):
    """Inside the caller's transaction: stop the endpoint and fail its pending deliveries."""
    hook.is_active = False
    hook.disabled_reason = reason
    hook.save(update_fields=["is_active", "disabled_reason"])
    hook.deliveries.filter(status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, next_attempt_at=None
    )
    record(
        hook.tenant,
        system_actor("webhook delivery"),
        "webhook.disabled",
        target=hook,
        metadata={"reason": reason},
    )


def _guarded(delivery, step, *args, **kwargs):
    """One delivery's trouble (its endpoint deleted under it, a database error) ends that
    delivery's turn, logged; it never stops the worker. The row's lease runs out and it is
    tried again."""
    try:
        return step(*args, **kwargs)
    except ObjectDoesNotExist:
        return None  # deleted meanwhile: the delivery went with its endpoint
    except Exception:
        log.exception("webhook delivery %s: %s failed", delivery.pk, step.__name__)
        return None


class Courier:
    """Sends claimed deliveries on a few threads (`WEBHOOK_DELIVERY_THREADS`): one attempt at a
    time per endpoint, its rows in order, and never more endpoints at once than threads, so a
    receiver that holds its attempt to the deadline holds one thread and nothing else. Claims,
    leases and records stay on the caller's thread; the threads only speak HTTP."""

    def __init__(self, threads=None):
        self.threads = threads or settings.WEBHOOK_DELIVERY_THREADS
        self.attempts = 0
        self.stopping = False
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook-delivery")
        self._inflight: dict[Future, tuple[Delivery, dt.datetime, list[Delivery]]] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def idle(self) -> bool:
        return not self._inflight

    def dispatch(self, *, now=None, limit=20) -> int:
        """Claim what is due for endpoints not being sent to already and start one attempt per
        endpoint; the number of rows claimed."""
        free = self.threads - len(self._inflight)
        if free <= 0 or self.stopping:
            return 0
        busy = {d.webhook_id for d, _, _ in self._inflight.values()}
        batch = claim_due(now=now, limit=limit, skip_webhooks=busy)
        groups: dict = {}
        for d in batch:
            groups.setdefault(d.webhook_id, []).append(d)
        for rows in groups.values():
            if len(self._inflight) < self.threads:
                self._start(rows, now)
            else:  # more endpoints than threads: the next batch (or another worker) takes these
                _guarded(rows[0], release, rows)
        return len(batch)

    def _start(self, rows, now) -> None:
        while rows:
            d, rows = rows[0], rows[1:]
            at = now or timezone.now()
            attempt = _guarded(d, prepare, d, now=at)
            if attempt is not None:
                self._inflight[self._pool.submit(attempt)] = (d, at, rows)
                return

    def collect(self, *, timeout=None, now=None) -> int:
        """Wait up to `timeout` s for attempts to end; record each and start its endpoint's next
        row (after a success; after a failure the rest are given back). The number ended."""
        if not self._inflight:
            return 0
        done, _ = wait(self._inflight, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            d, at, rows = self._inflight.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 — e.g. no thread left for the watchdog
                outcome = transport.Outcome(None, f"{type(exc).__name__}: {exc}"[:500], 0)
            self.attempts += 1
            _guarded(d, record_attempt, d, now=at, outcome=outcome)
            if rows and outcome.ok and not self.stopping:
                self._start(rows, now)
            elif rows:
                _guarded(rows[0], release, rows)
        return len(done)

    def drain(self, *, now=None) -> None:
        while self._inflight:
            self.collect(now=now)

    def close(self) -> None:
        """Finish the attempts under way (each ends by its deadline), give back the rest."""
        self.stopping = True
        self.drain()
        self._pool.shutdown()


def deliver_due(*, now=None, limit=20) -> int:
    """Claim one batch and send all of it; the number of attempts made."""
    with Courier() as courier:
        courier.dispatch(now=now, limit=limit)
        courier.drain(now=now)
    return courier.attempts


def payload_of(delivery) -> dict:
    return json.loads(delivery.payload)
