"""Subscriptions: webhooks, their signing secrets, test events and redeliveries."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.services import record
from portal.errors import Conflict, Invalid
from portal.serializers import ts
from webhooks import outbox, signing, ssrf
from webhooks.models import Delivery, Webhook

DEFAULT_GRACE = 86400


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
        d.lease_token = ""  # a worker that lost its lease earlier cannot record on this round
        d.save()
    return d
