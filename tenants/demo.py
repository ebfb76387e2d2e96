"""Demo content for `manage.py seeddemo`: something on every page and chart at first login.

An example role, two agents (one with a just-in-time grant), admin keys in every state (active,
deprecated, revoked, expired, one rotated with its successor) and 30 days of usage. Made through
the services, so the audit log tells the story too. Seeded once per tenant: when the demo's role
is already there, nothing is added again.
"""

import datetime as dt

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from access.actor import Actor
from agents import services as agent_services
from agents.models import Agent
from apikeys import services as key_services
from apikeys.models import ApiKey, KeyUsage

ROLE_SLUG = "support-agent"
DAYS = 30


def _usage(tenant, key, today, per_day) -> int:
    """Backfill 30 days of counts for `key`, as the usage buffer would have written them."""
    rows = [
        KeyUsage(tenant=tenant, key=key, agent=key.agent, date=today - dt.timedelta(days=d),
                 count=per_day(d))
        for d in range(DAYS)
        if per_day(d)
    ]  # fmt: skip
    KeyUsage.objects.bulk_create(rows)
    return sum(row.count for row in rows)


def seed(tenant, actor=None) -> bool:
    """Seed `tenant` with the demo content; False (and nothing added) if it is already there."""
    actor = actor or Actor.system("seeddemo")
    if tenant.roles.filter(slug=ROLE_SLUG).exists():
        return False
    now = timezone.now()
    today = now.date()
    with transaction.atomic():
        agent_services.create_role(
            tenant, actor, slug=ROLE_SLUG, name="Support agent",
            permissions=["read:tickets", "write:tickets", "read:customers"],
        )  # fmt: skip
        bot, bot_key, _ = agent_services.create_agent(
            tenant, actor, name="Support assistant", type="ai_assistant",
            description="Answers customer tickets and drafts refunds for review.",
            roles=[ROLE_SLUG], rate_limit_per_minute=120,
        )  # fmt: skip
        agent_services.create_grant(
            tenant, actor, bot, permission="write:refunds",
            expires_at=now + dt.timedelta(days=2, hours=5), reason="Refund backlog, ticket #4711",
        )  # fmt: skip
        nightly, nightly_key, _ = agent_services.create_agent(
            tenant, actor, name="Nightly billing export", type="service",
            description="Exports invoices to the data warehouse every night.",
            permissions=["read:invoices"], allowed_ips=["10.0.0.0/8"],
        )  # fmt: skip
        # A second key for the export, put out of use with a grace period.
        old_nightly, _ = agent_services.mint_agent_key(tenant, actor, nightly, name="export-v1")
        key_services.rotate_key(tenant, actor, old_nightly, grace_period=3 * 86400)

        ci, _ = key_services.mint_key(
            tenant, actor, name="ci-deploy", scopes=["agents:read", "api_keys:read"],
            expires_at=now + dt.timedelta(days=90),
        )  # fmt: skip
        key_services.update_key(tenant, actor, ci, note="GitHub Actions, repository web")
        ci_new, _ = key_services.rotate_key(tenant, actor, ci, grace_period=7 * 86400)
        key_services.update_key(tenant, actor, ci_new, note="GitHub Actions, after rotation")
        reporting, _ = key_services.mint_key(tenant, actor, name="reporting", scopes=["audit:read"])
        key_services.deprecate_key(tenant, actor, reporting)
        leaked, _ = key_services.mint_key(tenant, actor, name="old-laptop")
        key_services.revoke_key(tenant, actor, leaked, reason="laptop lost")
        trial, _ = key_services.mint_key(
            tenant, actor, name="partner-trial", scopes=["keys:verify"],
            expires_at=now + dt.timedelta(days=1),
        )  # fmt: skip
        # A key past its expiry: minting refuses a past date, so the demo backdates it.
        ApiKey.objects.filter(pk=trial.pk).update(
            created_at=now - dt.timedelta(days=20), expires_at=now - dt.timedelta(days=5)
        )

        _usage(tenant, bot_key, today, lambda d: 40 + (d * 37) % 90 if d % 7 not in (5, 6) else 8)
        _usage(tenant, nightly_key, today, lambda d: 24 if d < 3 else 0)
        _usage(tenant, old_nightly, today, lambda d: 24 if d >= 3 else 0)
        _usage(tenant, ci, today, lambda d: (d * 13) % 20 if d >= 1 else 0)
        _usage(tenant, ci_new, today, lambda d: 6 if d < 1 else 0)
        _usage(tenant, trial, today, lambda d: 15 if 5 <= d < 20 else 0)
        for key, ago in (
            (bot_key, 0),
            (nightly_key, 0),
            (old_nightly, 3),
            (ci, 1),
            (ci_new, 0),
            (trial, 5),
        ):
            ApiKey.objects.filter(pk=key.pk).update(
                last_used_at=now - dt.timedelta(days=ago, minutes=7), last_used_ip="10.1.2.3"
            )
        # An agent was last used when its most recently used key was, as the usage flush says.
        newest = ApiKey.objects.filter(agent=OuterRef("pk"), last_used_at__isnull=False)
        newest = newest.order_by("-last_used_at")
        Agent.objects.filter(tenant=tenant).update(
            last_used_at=Subquery(newest.values("last_used_at")[:1]),
            last_used_ip=Subquery(newest.values("last_used_ip")[:1]),
        )
    return True
