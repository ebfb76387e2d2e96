"""Scheduled rules for keys (run by `apikeys/jobs.py`): the tenant's dormancy policy and the
keys' expiry notices. Tests call them with a fake clock (`now`)."""

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from access.actor import Actor
from apikeys import services
from apikeys.models import ApiKey
from portal.errors import Conflict
from tenants.models import TenantPolicy
from tenants.notices import expiry_notices as notices_for

DORMANCY_ACTOR = Actor("system", "", "dormancy policy")


def apply_dormancy(*, now=None) -> int:
    """Deprecate active keys unused for the tenant's `dormantKeyDays` (from creation if never
    used), audited as the system actor "dormancy policy"."""
    now = now or timezone.now()
    count = 0
    for policy in TenantPolicy.objects.filter(dormant_key_days__isnull=False).select_related(
        "tenant"
    ):
        cutoff = now - dt.timedelta(days=policy.dormant_key_days)
        keys = policy.tenant.api_keys.filter(status=ApiKey.Status.ACTIVE).filter(
            Q(last_used_at__lte=cutoff) | Q(last_used_at__isnull=True, created_at__lte=cutoff)
        )
        for key in keys:
            try:
                services.deprecate_key(policy.tenant, DORMANCY_ACTOR, key)
                count += 1
            except Conflict:
                pass  # changed meanwhile
    return count


def expiry_notices(*, now=None) -> int:
    """`api_key.expiring` / `api_key.expired` for keys not revoked."""
    live = ApiKey.objects.exclude(status=ApiKey.Status.REVOKED)
    return notices_for("api_key", live, now=now or timezone.now())
