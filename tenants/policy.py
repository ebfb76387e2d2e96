"""A tenant's settings (`/admin/settings` and the portal's settings page): the dormancy policy.

Read by the jobs that apply them (`apikeys.housekeeping.apply_dormancy`); written only here.
"""

from django.db import transaction

from audit.services import record
from tenants.models import TenantPolicy


def get_policy(tenant) -> TenantPolicy:
    """The tenant's policy; an unsaved default one (every setting off) when none was saved."""
    return TenantPolicy.objects.filter(tenant=tenant).first() or TenantPolicy(tenant=tenant)


def update_settings(tenant, actor, *, dormant_key_days):
    with transaction.atomic():
        policy, _ = TenantPolicy.objects.select_for_update().get_or_create(tenant=tenant)
        policy.dormant_key_days = dormant_key_days
        policy.save()
        record(
            tenant,
            actor,
            "settings.updated",
            target=("tenant", str(tenant.pk), tenant.slug),
            metadata={"dormantKeyDays": dormant_key_days},
        )
    return policy
