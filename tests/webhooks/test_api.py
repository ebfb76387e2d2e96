import pytest

from tests.conftest import mint_admin_key
from webhooks import signing
from webhooks.events import EVENT_TYPES
from webhooks.models import Webhook

BASE = "/t/acme-corp/api/v1/admin"


@pytest.fixture(autouse=True)
def _private(private_targets):
    pass


def _create(api, **body):
    body.setdefault("url", "http://127.0.0.1:9/hook")
    return api.post(f"{BASE}/webhooks", body)


def test_event_types_lists_every_type_from_one_place(api):
    r = api.get(f"{BASE}/webhook-event-types")
    assert r.status_code == 200
    types = [e["type"] for e in r.json()["data"]]
    assert types == list(EVENT_TYPES)
    for t in (
        "api_key.expiring",
        "agent.expired",
        "api_key.leaked",
        "webhook.disabled",
        "webhook.test",
        "api_key.rotated",
        "member.role_changed",
        "user.logout",
    ):
        assert t in types


def test_create_shows_the_secret_once_and_stores_it_encrypted(api):
    r = _create(api, description="ops", eventTypes=["api_key.revoked"])
    assert r.status_code == 201
    assert r["Cache-Control"] == "no-store"
    body = r.json()
    assert body["secret"].startswith("whsec_")
    assert set(body) == {
        "id",
        "url",
        "description",
        "eventTypes",
        "isActive",
        "disabledReason",
        "createdAt",
        "updatedAt",
        "secret",
    }
    hook = Webhook.objects.get(pk=body["id"])
    assert body["secret"] not in hook.secret_encrypted
    assert signing.decrypt(hook.secret_encrypted) == body["secret"]
    again = api.get(f"{BASE}/webhooks/{body['id']}")
    assert "secret" not in again.json()
    assert body["secret"] not in api.get(f"{BASE}/webhooks").content.decode()
    assert body["secret"] not in api.get("/t/acme-corp/api/v1/admin/audit-logs").content.decode()


def test_create_refuses_a_private_target_without_the_setting(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    r = _create(api, url="https://127.0.0.1/hook")
    assert r.status_code == 400 and "url" in r.json()["details"]
    r = _create(api, url="http://example.com/hook")
    assert r.status_code == 400


def test_create_refuses_unknown_event_types_and_fields(api):
    assert _create(api, eventTypes=["nope.nope"]).status_code == 400
    assert _create(api, secret="x").status_code == 400


def test_patch_updates_given_fields(api):
    hook = _create(api).json()
    r = api.patch(f"{BASE}/webhooks/{hook['id']}", {"description": "new", "isActive": False})
    assert r.status_code == 200
    assert r.json()["description"] == "new" and r.json()["isActive"] is False
    assert r.json()["url"] == hook["url"]


def test_delete_removes_the_webhook(api):
    hook = _create(api).json()
    assert api.delete(f"{BASE}/webhooks/{hook['id']}").status_code == 204
    assert api.get(f"{BASE}/webhooks/{hook['id']}").status_code == 404


def test_rotate_secret_returns_a_new_secret_with_default_grace(api):
    hook = _create(api).json()
    r = api.post(f"{BASE}/webhooks/{hook['id']}/rotate-secret", {})
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    assert r.json()["secret"] != hook["secret"]
    h = Webhook.objects.get(pk=hook["id"])
    assert signing.decrypt(h.previous_secret_encrypted) == hook["secret"]
    assert 86390 <= (h.previous_secret_expires_at - h.updated_at).total_seconds() <= 86410
    assert (
        api.post(f"{BASE}/webhooks/{hook['id']}/rotate-secret", {"gracePeriod": 604801}).status_code
        == 400
    )


def test_test_event_is_202_and_listed_in_deliveries(api):
    hook = _create(api, eventTypes=["webhook.test"]).json()
    r = api.post(f"{BASE}/webhooks/{hook['id']}/test")
    assert r.status_code == 202
    deliveries = api.get(f"{BASE}/webhooks/{hook['id']}/deliveries").json()["data"]
    assert [d["eventType"] for d in deliveries] == ["webhook.test"]
    d = deliveries[0]
    assert set(d) == {
        "id",
        "eventType",
        "webhookId",
        "status",
        "attempts",
        "nextAttemptAt",
        "createdAt",
    }
    one = api.get(f"{BASE}/webhooks/{hook['id']}/deliveries/{d['id']}")
    assert one.json() == d
    r = api.post(f"{BASE}/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver")
    assert r.status_code == 202 and r.json()["status"] == "pending"


def test_scopes_guard_webhooks(tenant, make_api):
    _, reader = mint_admin_key(tenant, name="r", scopes=["webhooks:read"])
    _, other = mint_admin_key(tenant, name="o", scopes=["api_keys:read"])
    assert make_api(reader).get(f"{BASE}/webhooks").status_code == 200
    assert _create(make_api(reader)).status_code == 403
    assert make_api(other).get(f"{BASE}/webhooks").status_code == 403


def test_another_tenants_webhook_is_404(api, other_tenant):
    theirs = Webhook.objects.create(
        tenant=other_tenant,
        url="https://x.test/",
        secret_encrypted=signing.encrypt(signing.new_secret()),
    )
    assert api.get(f"{BASE}/webhooks/{theirs.pk}").status_code == 404
    assert api.post(f"{BASE}/webhooks/{theirs.pk}/test").status_code == 404


def test_viewer_can_read_but_not_write(viewer_client):
    assert viewer_client.get(f"{BASE}/webhooks").status_code == 200
    r = viewer_client.post(
        f"{BASE}/webhooks", '{"url": "http://127.0.0.1:9/"}', content_type="application/json"
    )
    assert r.status_code == 403
