"""seeddemo's content: a role, two agents, keys in every state, a grant and 30 days of usage,
so every page and chart shows something at first login; run again, it adds nothing."""

import io

import pytest
from django.core.management import call_command

from apikeys.models import KeyUsage
from audit.models import AuditEvent
from tenants.models import Tenant, User

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seeddemo", stdout=out)
    return out.getvalue()


def counts(tenant):
    return (
        tenant.roles.count(),
        tenant.agents.count(),
        tenant.api_keys.count(),
        KeyUsage.objects.filter(tenant=tenant).count(),
        AuditEvent.objects.filter(tenant=tenant).exclude(action__startswith="member.").count(),
    )


def test_the_demo_has_keys_in_every_state_agents_grants_and_usage():
    assert "30 days of usage" in seed()
    tenant = Tenant.objects.get(slug="acme-corp")
    assert tenant.roles.filter(slug="support-agent").exists()
    assert tenant.agents.count() == 2
    states = {k.display_status for k in tenant.api_keys.all()}
    assert states == {"active", "deprecated", "revoked", "expired"}
    assert tenant.api_keys.filter(rotated_from__isnull=False).exists()
    assert tenant.api_keys.exclude(note="").exists()
    bot = tenant.agents.get(name="Support assistant")
    assert bot.grants.filter(permission="write:refunds").exists()
    days = set(KeyUsage.objects.filter(agent=bot).values_list("date", flat=True))
    assert len(days) >= 20
    # The agent reads as used when its key does (not "never" beside a key used minutes ago).
    newest = bot.keys.exclude(last_used_at=None).order_by("-last_used_at").first()
    assert bot.last_used_at == newest.last_used_at and bot.last_used_ip == "10.1.2.3"


def test_seeding_again_adds_nothing():
    seed()
    tenant = Tenant.objects.get(slug="acme-corp")
    before = counts(tenant)
    assert "30 days of usage" not in seed()
    assert counts(tenant) == before


def test_every_demo_page_renders_with_content(client):
    seed()
    tenant = Tenant.objects.get(slug="acme-corp")
    client.force_login(User.objects.get(email="owner@acme.test"))
    base = "/t/acme-corp/portal"
    bot = tenant.agents.get(name="Support assistant")
    key = tenant.api_keys.get(name="ci-deploy", replaced_by__isnull=False)
    for path, text in [
        (f"{base}/", "ci-deploy"),
        (f"{base}/settings/api-keys", "partner-trial"),
        (f"{base}/agents", "Nightly billing export"),
        (f"{base}/agents/{bot.pk}", 'class="bar"'),
        (f"{base}/settings/api-keys/{key.pk}", "GitHub Actions"),
        (f"{base}/roles", "support-agent"),
        (f"{base}/audit-log", "api_key.rotated"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert text in response.content.decode(), path
