"""Webhook jobs for `runworker` (portal.scheduler): deliver what is due, prune the outbox."""

from django.conf import settings

from portal.scheduler import Job
from webhooks import services


def deliver():
    return services.deliver_due(limit=settings.WEBHOOK_DELIVERY_BATCH)


def jobs() -> list[Job]:
    return [
        Job("webhooks.deliver", every=1, run=deliver, drain=True),
        Job("webhooks.prune_outbox", every=3600, run=services.prune),
    ]
