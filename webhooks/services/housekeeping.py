"""Housekeeping: pruning the outbox of delivered rows."""

import datetime as dt

from django.utils import timezone

from webhooks.models import Delivery

PRUNE_AFTER = dt.timedelta(days=30)


def prune(*, now=None) -> int:
    now = now or timezone.now()
    deleted, _ = Delivery.objects.filter(
        status=Delivery.Status.DELIVERED, delivered_at__lte=now - PRUNE_AFTER
    ).delete()
    return deleted
