"""Scheduled rules of keys and agents: expiry notices, the dormancy policy (a fake clock)."""

import datetime as dt

from django.test import override_settings
from django.utils import timezone

from access.actor import Actor
from agents import housekeeping as agent_housekeeping
from agents import services as agent_services
from apikeys import housekeeping
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tenants.models import TenantPolicy
from tests.conftest import mint_admin_key
from webhooks import services as webhook_services

ACTOR = Actor.system("tests")


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("occurred_at"))


@override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True)
def test_expiring_fires_at_14_3_and_1_days_once_each_then_expired_once(tenant):
    hook, _ = webhook_services.create_webhook(
        tenant,
        ACTOR,
        url="http://127.0.0.1:9/",
        event_types=["api_key.expiring", "api_key.expired"],
    )
    now = timezone.now()
    key, _ = mint_admin_key(tenant, name="ci", expires_at=now + dt.timedelta(days=20))
    for day in range(0, 22):
        for hour in (0, 12):
            housekeeping.expiry_notices(now=now + dt.timedelta(days=day, hours=hour))
    expiring = _events("api_key.expiring")
    assert [e.metadata["daysAhead"] for e in expiring] == [14, 3, 1]
    assert all(e.target_id == str(key.pk) for e in expiring)
    assert len(_events("api_key.expired")) == 1
    assert expiring[0].actor_type == "system"
    assert sorted(hook.deliveries.values_list("event_type", flat=True)) == [
        "api_key.expired",
        *["api_key.expiring"] * 3,
    ]


def test_agent_expiring_and_expired(tenant):
    now = timezone.now()
    agent, _, _ = agent_services.create_agent(
        tenant, ACTOR, name="bot", expires_at=now + dt.timedelta(days=2)
    )
    agent_housekeeping.expiry_notices(now=now)
    agent_housekeeping.expiry_notices(now=now + dt.timedelta(hours=30))
    agent_housekeeping.expiry_notices(now=now + dt.timedelta(days=3))
    agent_housekeeping.expiry_notices(now=now + dt.timedelta(days=4))
    assert [e.metadata["daysAhead"] for e in _events("agent.expiring")] == [3, 1]
    assert [e.target_id for e in _events("agent.expired")] == [str(agent.pk)]


def test_dormancy_deprecates_exactly_the_keys_unused_for_n_days(tenant):
    now = timezone.now()
    TenantPolicy.objects.create(tenant=tenant, dormant_key_days=30)
    old_unused, _ = mint_admin_key(tenant, name="old-unused")
    used_long_ago, _ = mint_admin_key(tenant, name="used-long-ago")
    used_recently, _ = mint_admin_key(tenant, name="used-recently")
    new_unused, _ = mint_admin_key(tenant, name="new-unused")
    ApiKey.objects.filter(pk=old_unused.pk).update(created_at=now - dt.timedelta(days=31))
    ApiKey.objects.filter(pk=used_long_ago.pk).update(
        created_at=now - dt.timedelta(days=90), last_used_at=now - dt.timedelta(days=31)
    )
    ApiKey.objects.filter(pk=used_recently.pk).update(
        created_at=now - dt.timedelta(days=90), last_used_at=now - dt.timedelta(days=29)
    )
    ApiKey.objects.filter(pk=new_unused.pk).update(created_at=now - dt.timedelta(days=29))
    assert housekeeping.apply_dormancy(now=now) == 2
    statuses = dict(tenant.api_keys.values_list("name", "status"))
    assert statuses == {
        "old-unused": "deprecated",
        "used-long-ago": "deprecated",
        "used-recently": "active",
        "new-unused": "active",
    }
    events = _events("api_key.deprecated")
    assert {(e.actor_type, e.actor_name) for e in events} == {("system", "dormancy policy")}
    assert housekeeping.apply_dormancy(now=now) == 0


def test_dormancy_off_by_default_and_per_tenant(tenant, other_tenant):
    key, _ = mint_admin_key(tenant, name="old")
    ApiKey.objects.filter(pk=key.pk).update(created_at=timezone.now() - dt.timedelta(days=999))
    assert housekeeping.apply_dormancy() == 0
    TenantPolicy.objects.create(tenant=other_tenant, dormant_key_days=1)
    assert housekeeping.apply_dormancy() == 0
    key.refresh_from_db()
    assert key.status == "active"
