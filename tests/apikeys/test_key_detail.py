"""The key page (`GET /settings/api-keys/<id>`, JSON at `GET /admin/api-keys/<id>`): edit a key's
name, note, rate limit and allowlist through one service (PATCH for the API, a form post for the
portal), its 30-day usage chart and its recent events."""

import datetime as dt

import pytest
from django.utils import timezone

from access.actor import Actor
from apikeys import services
from apikeys.models import KeyUsage
from audit.models import AuditEvent
from tests.conftest import HTMX, mint_admin_key

PAGE = "/t/acme-corp/portal/settings/api-keys"
API = "/t/acme-corp/api/v1/admin/api-keys"
SYSTEM = Actor.system("tests")

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(tenant):
    return mint_admin_key(tenant, name="ci")[0]


def test_patch_edits_name_note_rate_limit_and_allowlist(api, key):
    response = api.patch(
        f"{API}/{key.pk}",
        {"name": "ci web", "note": "GitHub Actions", "rateLimitPerMinute": 30,
         "allowedIps": ["10.0.0.0/8"]},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "ci web" and body["note"] == "GitHub Actions"
    assert body["rateLimitPerMinute"] == 30 and body["allowedIps"] == ["10.0.0.0/8"]
    key.refresh_from_db()
    assert (key.name, key.note, key.rate_limit_per_minute) == ("ci web", "GitHub Actions", 30)
    event = AuditEvent.objects.get(action="api_key.updated", target_id=str(key.pk))
    assert event.metadata["changes"] == ["name", "note", "rateLimitPerMinute", "allowedIps"]


def test_patch_changes_only_the_fields_sent_and_null_clears(api, tenant, key):
    services.update_key(tenant, SYSTEM, key, note="keep me", rate_limit_per_minute=5)
    body = api.patch(f"{API}/{key.pk}", {"rateLimitPerMinute": None}).json()
    assert body["note"] == "keep me" and body["rateLimitPerMinute"] is None
    assert body["name"] == "ci"


def test_an_unchanged_patch_records_no_event(api, key):
    api.patch(f"{API}/{key.pk}", {"name": "ci"})
    assert not AuditEvent.objects.filter(action="api_key.updated").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"note": "x" * 501}, "note"),
        ({"note": "bidi \u202e"}, "note"),
        ({"note": 5}, "note"),
        ({"name": ""}, "name"),
        ({"rateLimitPerMinute": 0}, "rateLimitPerMinute"),
        ({"allowedIps": ["999.1.1.1"]}, "allowedIps"),
        ({"scopes": ["audit:read"]}, "scopes"),
    ],
)
def test_bad_edits_are_400_with_details(api, key, body, field):
    response = api.patch(f"{API}/{key.pk}", body)
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_editing_needs_the_write_scope(make_api, tenant, key):
    _, secret = mint_admin_key(tenant, name="reader", scopes=["api_keys:read"])
    assert make_api(secret).patch(f"{API}/{key.pk}", {"note": "x"}).status_code == 403


def test_another_tenants_key_is_404_to_read_and_edit(api, owner_client, other_tenant):
    foreign = mint_admin_key(other_tenant, name="theirs")[0]
    assert api.patch(f"{API}/{foreign.pk}", {"note": "x"}).status_code == 404
    assert owner_client.get(f"{PAGE}/{foreign.pk}").status_code == 404
    assert owner_client.post(f"{PAGE}/{foreign.pk}", {"note": "x"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.note == ""


def test_the_portal_form_saves_through_the_same_service(owner_client, key):
    response = owner_client.post(
        f"{PAGE}/{key.pk}",
        {"name": "ci", "note": "deploys web", "rateLimitPerMinute": "", "allowedIps": "10.1.2.3"},
    )
    assert response.status_code == 303 and response["Location"] == f"{PAGE}/{key.pk}"
    key.refresh_from_db()
    assert key.note == "deploys web" and key.allowed_ips == ["10.1.2.3/32"]
    assert key.rate_limit_per_minute is None
    page = owner_client.get(f"{PAGE}/{key.pk}").content.decode()
    assert "deploys web" in page and "saved." in page
    assert AuditEvent.objects.filter(action="api_key.updated", target_id=str(key.pk)).exists()


def test_the_portal_form_with_htmx_answers_the_fragment(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}", {"name": "renamed"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="key-detail"' in html and "renamed" in html
    assert 'role="status"' in html


def test_a_bad_portal_edit_shows_the_form_again_with_the_message(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}", {"name": "ci", "allowedIps": "999.1.1.1"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" in html and 'id="key-detail"' in html and 'value="999.1.1.1"' in html
    response = owner_client.post(f"{PAGE}/{key.pk}", {"note": "x" * 501}, headers=HTMX)
    assert response.status_code == 400 and response["HX-Retarget"] == "#flash"


def test_viewers_see_no_edit_form_and_are_refused(viewer_client, key):
    page = owner_page = viewer_client.get(f"{PAGE}/{key.pk}").content.decode()
    assert "Save key" not in page and owner_page
    assert viewer_client.post(f"{PAGE}/{key.pk}", {"note": "x"}).status_code == 403


def test_the_api_does_not_take_a_form_post_on_a_key(api, key):
    assert api.post(f"{API}/{key.pk}", {"note": "x"}).status_code == 405


def test_the_key_page_shows_its_chart_events_and_links(owner_client, tenant, key):
    today = timezone.now().date()
    KeyUsage.objects.create(tenant=tenant, key=key, date=today, count=7)
    KeyUsage.objects.create(tenant=tenant, key=key, date=today - dt.timedelta(days=40), count=99)
    new_key, _ = services.rotate_key(tenant, SYSTEM, key, grace_period=3600)
    page = owner_client.get(f"{PAGE}/{key.pk}").content.decode()
    assert '<svg viewBox="0 0 720 180"' in page
    assert f'data-date="{today:%Y-%m-%d}" data-count="7"' in page
    assert "7 requests in the last 30 days." in page  # the 40-day-old use is outside
    assert "api_key.created" in page and "api_key.rotated" in page
    assert f'href="{PAGE}/{new_key.pk}"' in page and "Replaced by" in page
    fragment = owner_client.get(f"{PAGE}/{key.pk}", headers=HTMX).content.decode()
    assert "<html" not in fragment and 'id="key-detail"' in fragment


def test_rejected_uses_are_among_the_keys_events(owner_client, tenant, key):
    services.revoke_key(tenant, SYSTEM, key)
    AuditEvent.objects.create(
        tenant=tenant, action="api_key.rejected", actor_type="api_key", actor_name=key.prefix,
        target_type="api_key", target_id=str(key.pk), target_name=key.name,
        metadata={"reason": "revoked"},
    )  # fmt: skip
    page = owner_client.get(f"{PAGE}/{key.pk}").content.decode()
    assert "api_key.rejected" in page and "api_key.revoked" in page


def test_key_rows_link_to_the_key_page_and_show_note_and_rotation(owner_client, tenant, key):
    services.update_key(tenant, SYSTEM, key, note="the old CI key")
    new_key, _ = services.rotate_key(tenant, SYSTEM, key, grace_period=3600)
    page = owner_client.get(PAGE).content.decode()
    assert f'<a href="{PAGE}/{key.pk}">ci</a>' in page
    assert "the old CI key" in page
    assert f'replaced by <a href="{PAGE}/{new_key.pk}">' in page
    assert f'rotated from <a href="{PAGE}/{key.pk}">' in page
