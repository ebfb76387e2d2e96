import re

import pytest

from webhooks.models import Webhook

PAGE = "/t/acme-corp/portal/settings/webhooks"


@pytest.fixture(autouse=True)
def _private(private_targets):
    pass


def _create(client, **data):
    data.setdefault("url", "http://127.0.0.1:9/hook")
    return client.post(PAGE, data)


def test_create_shows_the_secret_once(admin_client):
    r = _create(admin_client, description="ops", eventTypes=["api_key.revoked", "webhook.test"])
    assert r.status_code == 201
    assert r["Cache-Control"] == "no-store"
    secret = re.search(r'value="(whsec_[^"]+)"', r.content.decode()).group(1)
    hook = Webhook.objects.get()
    assert hook.event_types == ["api_key.revoked", "webhook.test"]
    assert secret not in admin_client.get(PAGE).content.decode()
    assert secret not in admin_client.get(f"{PAGE}/{hook.pk}").content.decode()


def test_bad_url_shows_the_form_again_with_the_message(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    r = _create(admin_client, url="https://10.0.0.1/")
    assert r.status_code == 400
    assert "public addresses" in r.content.decode()


def test_edit_test_redeliver_and_rotate(admin_client):
    _create(admin_client)
    hook = Webhook.objects.get()
    url = f"{PAGE}/{hook.pk}"
    r = admin_client.post(
        url, {"url": hook.url, "description": "new", "isActive": "true", "eventTypes": ""}
    )
    assert r.status_code == 303
    hook.refresh_from_db()
    assert hook.description == "new" and hook.event_types == []
    assert admin_client.post(f"{url}/test").status_code == 303
    d = hook.deliveries.get(event_type="webhook.test")
    page = admin_client.get(url).content.decode()
    assert "webhook.test" in page and "Redeliver" in page
    assert admin_client.post(f"{url}/deliveries/{d.pk}/redeliver").status_code == 303
    r = admin_client.post(f"{url}/rotate-secret", {"gracePeriod": "3600"})
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    assert "whsec_" in r.content.decode()
    # The address bar moves to the webhook's page (portal.js), so a reload is not the post again.
    assert f'data-replace-url="{url}"' in r.content.decode()


def test_delete_from_the_portal(admin_client):
    _create(admin_client)
    hook = Webhook.objects.get()
    assert admin_client.post(f"{PAGE}/{hook.pk}/delete").status_code == 303
    assert not Webhook.objects.exists()


def test_viewer_sees_no_actions_and_cannot_post(viewer_client, admin_client):
    _create(admin_client)
    hook = Webhook.objects.get()
    page = viewer_client.get(f"{PAGE}/{hook.pk}").content.decode()
    assert (
        "Rotate secret" not in page
        and "Add webhook" not in viewer_client.get(PAGE).content.decode()
    )
    assert viewer_client.post(f"{PAGE}/{hook.pk}/test").status_code == 403


def test_outsider_gets_404(outsider_client, admin_client):
    _create(admin_client)
    hook = Webhook.objects.get()
    assert outsider_client.get(f"{PAGE}/{hook.pk}").status_code == 404


def test_htmx_request_gets_a_fragment(admin_client):
    r = admin_client.get(PAGE, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.content.decode() and 'id="webhooks"' in r.content.decode()
