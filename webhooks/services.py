"""Webhook rules: subscriptions, secrets, deliveries and their retries, outbox pruning.

The worker (`manage.py runworker`, through `webhooks/jobs.py`) holds no rules: it calls
`deliver_due` and `prune` here, which tests call directly with a fake clock (`now`).
"""

import datetime as dt
import json
import random
import time
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from access.actor import Actor
from audit.services import record
from portal.errors import Conflict, Invalid
from portal.serializers import ts
from webhooks import outbox, signing, ssrf
from webhooks.models import Delivery, Webhook

RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]  # seconds after each failure
JITTER = 0.1  # ± 10 %
DISABLE_AFTER = dt.timedelta(days=5)
LEASE_PER_DELIVERY = ssrf.CONNECT_TIMEOUT + ssrf.READ_TIMEOUT + 5
PRUNE_AFTER = dt.timedelta(days=30)
DEFAULT_GRACE = 86400


def system_actor(name: str) -> Actor:
    return Actor.system(name)


def _check_url(url: str) -> None:
    problem = ssrf.check_url(url)
    if problem:
        raise Invalid({"url": [problem]})


# --- subscriptions ----------------------------------------------------------------------------


def create_webhook(tenant, actor, *, url, description="", event_types=None):
    """Returns (webhook, secret); the secret is shown once and stored only encrypted."""
    _check_url(url)
    secret = signing.new_secret()
    with transaction.atomic():
        hook = Webhook.objects.create(
            tenant=tenant,
            url=url,
            description=description,
            event_types=list(event_types or []),
            secret_encrypted=signing.encrypt(secret),
        )
        record(tenant, actor, "webhook.created", target=hook, metadata={"url": url})
    return hook, secret


def update_webhook(tenant, actor, hook, **changes):
    if "url" in changes:
        _check_url(changes["url"])
    with transaction.atomic():
        hook = Webhook.objects.select_for_update().get(pk=hook.pk, tenant=tenant)
        if changes.get("is_active") and not hook.is_active:
            hook.disabled_reason = ""
            hook.failing_since = None
        for name, value in changes.items():
            setattr(hook, name, value)
        hook.save()
        fields = sorted(changes)
        record(tenant, actor, "webhook.updated", target=hook, metadata={"fields": fields})
    return hook


def delete_webhook(tenant, actor, hook):
    with transaction.atomic():
        record(tenant, actor, "webhook.deleted", target=hook, metadata={"url": hook.url})
        hook.delete()


def rotate_secret(tenant, actor, hook, *, grace_period=DEFAULT_GRACE, now=None):
    """A new secret; the old one keeps signing (a second signature) until the deadline."""
    now = now or timezone.now()
    secret = signing.new_secret()
    with transaction.atomic():
        hook = Webhook.objects.select_for_update().get(pk=hook.pk, tenant=tenant)
        if grace_period:
            hook.previous_secret_encrypted = hook.secret_encrypted
            hook.previous_secret_expires_at = now + dt.timedelta(seconds=grace_period)
        else:
            hook.previous_secret_encrypted = ""
            hook.previous_secret_expires_at = None
        hook.secret_encrypted = signing.encrypt(secret)
        hook.save()
        record(
            tenant,
            actor,
            "webhook.secret_rotated",
            target=hook,
            metadata={"gracePeriod": grace_period},
        )
    return hook, secret


def signing_secrets(hook, now) -> list[str]:
    secrets_ = [signing.decrypt(hook.secret_encrypted)]
    if hook.previous_secret_encrypted and hook.previous_secret_expires_at > now:
        secrets_.append(signing.decrypt(hook.previous_secret_encrypted))
    return secrets_


def send_test(tenant, actor, hook, *, now=None) -> Delivery:
    """Queue a `webhook.test` event for this one webhook."""
    now = now or timezone.now()
    data = {
        "webhookId": str(hook.pk),
        "message": "This is a test event from Tessera.",
        "actor": actor.as_ref(),
        "tenant": tenant.slug,
    }
    payload = outbox.body("webhook.test", ts(now), data)
    d = outbox.delivery(tenant, hook, "webhook.test", payload, now)
    d.save(force_insert=True)
    return d


def redeliver(tenant, actor, delivery, *, now=None) -> Delivery:
    """Send the same event again, with the same webhook-id, through the usual retry schedule."""
    now = now or timezone.now()
    with transaction.atomic():
        d = Delivery.objects.select_for_update().get(pk=delivery.pk, tenant=tenant)
        if d.status == Delivery.Status.PENDING and d.lease_until and d.lease_until > now:
            raise Conflict("This delivery is being sent right now.")
        d.status = Delivery.Status.PENDING
        d.retry_index = 0
        d.next_attempt_at = now
        d.lease_until = None
        d.save()
    return d


# --- delivery ---------------------------------------------------------------------------------


def claim_due(*, now=None, limit=20) -> list[Delivery]:
    """Lease up to `limit` due deliveries to this worker. With SKIP LOCKED (PostgreSQL) several
    workers claim disjoint batches; a killed worker's lease expires and another sends its rows."""
    now = now or timezone.now()
    skip = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        qs = (
            Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .order_by("next_attempt_at")
        )
        ids = list(qs.select_for_update(skip_locked=skip).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        token = uuid.uuid4().hex
        per_delivery = settings.WEBHOOK_LEASE_PER_DELIVERY or LEASE_PER_DELIVERY
        lease = now + dt.timedelta(seconds=per_delivery * len(ids))
        Delivery.objects.filter(pk__in=ids).update(lease_until=lease, lease_token=token)
    batch = Delivery.objects.filter(pk__in=ids).select_related("webhook", "tenant")
    return list(batch.order_by("next_attempt_at", "created_at"))


def send(delivery: Delivery, *, now=None, clock=time.monotonic) -> Delivery:
    """One attempt, outside any transaction; then record it (`record_attempt`)."""
    now = now or timezone.now()
    hook = delivery.webhook
    if not hook.is_active:
        return record_attempt(
            delivery, now=now, status_code=None, duration_ms=0, error="webhook disabled", final=True
        )
    stamp = int(now.timestamp())
    headers = signing.headers(
        signing_secrets(hook, now), delivery.message_id, stamp, delivery.payload
    )
    headers["content-type"] = "application/json"
    start = clock()
    status_code, error = None, ""
    try:
        response = ssrf.sender().send_request(
            "POST",
            hook.url,
            data=delivery.payload.encode(),
            headers=headers,
            allow_redirects=False,
        )
        status_code = response.status_code
        response.close()
    except Exception as exc:  # noqa: BLE001 — any failure to deliver is a failed attempt
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((clock() - start) * 1000)
    return record_attempt(
        delivery, now=now, status_code=status_code, duration_ms=duration_ms, error=error
    )


def retry_delay(index: int, rng=random) -> float | None:
    if index >= len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[index]
    return base * rng.uniform(1 - JITTER, 1 + JITTER)


def record_attempt(delivery, *, now, status_code, duration_ms, error="", final=False):
    attempt = {
        "at": ts(now),
        "statusCode": status_code,
        "durationMs": duration_ms,
        "error": error or None,
    }
    ok = status_code is not None and 200 <= status_code < 300
    with transaction.atomic():
        d = Delivery.objects.select_for_update().get(pk=delivery.pk)
        hook = Webhook.objects.select_for_update().get(pk=d.webhook_id)
        d.attempts = [*d.attempts, attempt]
        d.lease_until = None
        if ok:
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
                if status_code == 410:
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


def deliver_due(*, now=None, limit=20) -> int:
    """Claim and send one batch; the number of attempts made."""
    batch = claim_due(now=now, limit=limit)
    for d in batch:
        send(d, now=now)
    return len(batch)


# --- housekeeping ------------------------------------------------------------------------


def prune(*, now=None) -> int:
    now = now or timezone.now()
    deleted, _ = Delivery.objects.filter(
        status=Delivery.Status.DELIVERED, delivered_at__lte=now - PRUNE_AFTER
    ).delete()
    return deleted


def payload_of(delivery) -> dict:
    return json.loads(delivery.payload)
