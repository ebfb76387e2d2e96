"""Bulk key actions (SPEC §12): POST .../admin/api-keys/bulk and the keys page's bulk bar."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.conftest import mint_admin_key

API = "/t/acme-corp/api/v1/admin/api-keys/bulk"
PAGE = "/t/acme-corp/portal/settings/api-keys"

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(tenant):
    return [mint_admin_key(tenant, name=f"k{i}")[0] for i in range(3)]


def ids(*objs):
    return [str(o.pk) for o in objs]


def test_each_item_gets_the_single_calls_status_and_its_own_audit_event(api, keys, tenant):
    a, b, c = keys
    ApiKey.objects.filter(pk=c.pk).update(status=ApiKey.Status.REVOKED)
    missing = str(uuid.uuid4())
    response = api.post(API, {"action": "revoke", "ids": [*ids(a, b, c), missing, "nope"]})
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"id": str(a.pk), "status": 200},
            {"id": str(b.pk), "status": 200},
            {"id": str(c.pk), "status": 409, "error": "conflict"},
            {"id": missing, "status": 404, "error": "not_found"},
            {"id": "nope", "status": 404, "error": "not_found"},
        ]
    }
    assert set(ApiKey.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)) == {
        "revoked"
    }
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 2


def test_revoke_reason_is_recorded(api, keys):
    api.post(API, {"action": "revoke", "ids": ids(keys[0]), "reason": "offboarding"})
    keys[0].refresh_from_db()
    assert keys[0].revoked_reason == "offboarding"


def test_delete_items_answer_204(api, keys):
    response = api.post(API, {"action": "delete", "ids": ids(*keys)})
    assert [r["status"] for r in response.json()["results"]] == [204, 204, 204]
    assert not ApiKey.objects.filter(pk__in=[k.pk for k in keys]).exists()


def test_deprecate_then_activate(api, keys):
    a = keys[0]
    assert (
        api.post(API, {"action": "deprecate", "ids": ids(a)}).json()["results"][0]["status"] == 200
    )
    a.refresh_from_db()
    assert a.status == ApiKey.Status.DEPRECATED
    second = api.post(API, {"action": "deprecate", "ids": ids(a)}).json()["results"][0]
    assert second["status"] == 409
    assert (
        api.post(API, {"action": "activate", "ids": ids(a)}).json()["results"][0]["status"] == 200
    )


def test_another_tenants_key_is_a_404_item_and_untouched(api, other_tenant):
    theirs, _ = mint_admin_key(other_tenant, name="theirs")
    response = api.post(API, {"action": "revoke", "ids": ids(theirs)})
    assert response.json()["results"] == [
        {"id": str(theirs.pk), "status": 404, "error": "not_found"}
    ]
    theirs.refresh_from_db()
    assert theirs.status == ApiKey.Status.ACTIVE


@pytest.mark.parametrize(
    "body",
    [
        {"action": "rotate", "ids": ["x"]},
        {"action": "revoke", "ids": []},
        {"action": "revoke"},
        {"ids": ["x"]},
        {"action": "revoke", "ids": [str(i) for i in range(101)]},
        {"action": "revoke", "ids": "x"},
        {"action": "revoke", "ids": ["x"], "extra": True},
    ],
)
def test_a_bad_body_is_a_400(api, body):
    response = api.post(API, body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_needs_the_write_scope(make_api, tenant, keys):
    _, secret = mint_admin_key(tenant, name="reader", scopes=["api_keys:read"])
    response = make_api(secret).post(API, {"action": "revoke", "ids": ids(keys[0])})
    assert response.status_code == 403


def test_the_portal_asks_for_confirmation_before_acting(admin_client, keys):
    a, b, _ = keys
    response = admin_client.post(f"{PAGE}/bulk", {"action": "revoke", "ids": ids(a, b)})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Revoke 2 keys?" in html
    assert 'name="confirm"' in html
    assert ApiKey.objects.filter(status=ApiKey.Status.REVOKED).count() == 0
    done = admin_client.post(f"{PAGE}/bulk", {"action": "revoke", "ids": ids(a, b), "confirm": "1"})
    assert done.status_code == 303
    assert set(ApiKey.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)) == {
        "revoked"
    }
    page = admin_client.get(done["Location"]).content.decode()
    assert "2 key(s) revoked." in page


def test_the_keys_page_has_checkboxes_and_a_bulk_form(admin_client, keys):
    html = admin_client.get(PAGE).content.decode()
    assert 'id="bulk-form"' in html
    assert f'name="ids" value="{keys[0].pk}" form="bulk-form"' in html


def test_viewers_get_no_bulk_bar_and_cannot_post(viewer_client, keys):
    assert 'id="bulk-form"' not in viewer_client.get(PAGE).content.decode()
    response = viewer_client.post(f"{PAGE}/bulk", {"action": "revoke", "ids": ids(keys[0])})
    assert response.status_code == 403
    keys[0].refresh_from_db()
    assert keys[0].status == ApiKey.Status.ACTIVE


def test_an_expired_key_cannot_be_activated_in_bulk(api, keys):
    ApiKey.objects.filter(pk=keys[0].pk).update(
        status=ApiKey.Status.DEPRECATED, expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    item = api.post(API, {"action": "activate", "ids": ids(keys[0])}).json()["results"][0]
    assert item["status"] == 409
