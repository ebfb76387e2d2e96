"""The tenant settings (SPEC §11: the dormancy policy): `GET/PATCH /admin/settings` and the
portal's settings page."""

from tests.conftest import mint_admin_key

BASE = "/t/acme-corp/api/v1/admin"


def test_settings_need_full_admin_or_admin_role(api, tenant, make_api, admin_client, viewer_client):
    assert api.get(f"{BASE}/settings").json() == {"dormantKeyDays": None}
    r = api.patch(f"{BASE}/settings", {"dormantKeyDays": 90})
    assert r.status_code == 200 and r.json() == {"dormantKeyDays": 90}
    assert api.patch(f"{BASE}/settings", {"dormantKeyDays": 0}).status_code == 400
    assert api.patch(f"{BASE}/settings", {"dormantKeyDays": 3651}).status_code == 400
    assert api.patch(f"{BASE}/settings", {"dormantKeyDays": None}).json() == {
        "dormantKeyDays": None
    }
    _, scoped = mint_admin_key(tenant, name="s", scopes=["webhooks:write"])
    assert make_api(scoped).get(f"{BASE}/settings").status_code == 403
    assert admin_client.get(f"{BASE}/settings").status_code == 200
    assert viewer_client.get(f"{BASE}/settings").status_code == 403


def test_settings_page_sets_dormancy(admin_client, tenant):
    url = "/t/acme-corp/portal/settings"
    assert "Dormant keys" in admin_client.get(url).content.decode()
    assert admin_client.post(url, {"dormantKeyDays": "45"}).status_code == 303
    assert tenant.policy.dormant_key_days == 45
    assert admin_client.post(url, {"dormantKeyDays": "0"}).status_code == 400
    assert admin_client.post(url, {"dormantKeyDays": ""}).status_code == 303
    tenant.policy.refresh_from_db()
    assert tenant.policy.dormant_key_days is None


MOVE = """
import django, sys
django.setup()
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
call_command("migrate", "webhooks", "0001", verbosity=0)  # as before the move
from tenants.models import ExpiryNotice, Tenant, TenantPolicy
tenant = Tenant.objects.create(slug="acme-corp", name="Acme Corp")
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO webhooks_tenantpolicy (tenant_id, dormant_key_days, updated_at)"
        " VALUES (%s, 45, %s)", [tenant.pk.hex, timezone.now()]
    )
    cursor.execute(
        "INSERT INTO webhooks_expirynotice (tenant_id, target_type, target_id, expires_at,"
        " threshold) VALUES (%s, 'api_key', 'k1', %s, 3)", [tenant.pk.hex, timezone.now()]
    )
call_command("migrate", verbosity=0)
print(TenantPolicy.objects.get(tenant=tenant).dormant_key_days)
print(ExpiryNotice.objects.get(tenant=tenant).threshold)
"""


def test_the_move_to_tenants_keeps_every_saved_setting(tmp_path):
    """Settings saved while they lived in `webhooks` are still there after the migrations."""
    from tests.perf.conftest import run_python

    out = run_python(MOVE, f"sqlite:///{tmp_path / 'move.sqlite3'}")
    assert out.split() == ["45", "3"]
