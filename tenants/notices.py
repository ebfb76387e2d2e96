"""Expiry notices (SPEC §11): `<kind>.expiring` 14, 3 and 1 days ahead and `<kind>.expired`,
each recorded once per credential and expiry date. Keys (`apikeys.housekeeping`) and agents
(`agents.housekeeping`) say which of theirs are live; the rule of when and how often is here."""

import datetime as dt

from django.db import transaction

from access.actor import Actor
from audit.services import record
from portal.serializers import ts
from tenants.models import ExpiryNotice

EXPIRY_THRESHOLDS = (14, 3, 1)
ACTOR = Actor("system", "", "expiry notices")


def _notice(obj, action, kind, threshold) -> bool:
    """Record the event once (ExpiryNotice's unique constraint decides), in one transaction."""
    with transaction.atomic():
        _, created = ExpiryNotice.objects.get_or_create(
            tenant=obj.tenant,
            target_type=kind,
            target_id=str(obj.pk),
            expires_at=obj.expires_at,
            threshold=threshold,
        )
        if created:
            metadata = {"expiresAt": ts(obj.expires_at)}
            if threshold:
                metadata["daysAhead"] = threshold
            record(obj.tenant, ACTOR, action, target=obj, metadata=metadata)
        return created


def expiry_notices(kind: str, live, *, now) -> int:
    """Notices for the objects of queryset `live` (each with `tenant` and `expires_at`) that
    expire within the largest threshold; the number of events recorded."""
    sent = 0
    horizon = now + dt.timedelta(days=max(EXPIRY_THRESHOLDS))
    for obj in live.filter(expires_at__isnull=False, expires_at__lte=horizon).select_related(
        "tenant"
    ):
        left = obj.expires_at - now
        if left <= dt.timedelta(0):
            sent += _notice(obj, f"{kind}.expired", kind, 0)
            continue
        threshold = min(t for t in EXPIRY_THRESHOLDS if left <= dt.timedelta(days=t))
        sent += _notice(obj, f"{kind}.expiring", kind, threshold)
    return sent
