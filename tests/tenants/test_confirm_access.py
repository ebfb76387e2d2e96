"""Confirm access (SPEC §14): sensitive portal posts need a password or second-factor check in
the last 10 minutes; the page asks for it, then the kept post completes. Keys are not asked."""

import time
from urllib.parse import quote

import pytest

from apikeys.models import ApiKey
from tenants.auth import CONFIRM_ACCESS
from tests.conftest import HTMX, PASSWORD, login

pytestmark = pytest.mark.django_db

KEYS = "/t/acme-corp/portal/settings/api-keys"
CONFIRM = "/accounts/reauthenticate/"


@pytest.fixture
def unconfirmed(owner):
    return login(owner, confirmed=False)


def test_minting_a_key_asks_first_and_completes_after_the_password(unconfirmed, tenant):
    response = unconfirmed.post(KEYS, {"name": "ci-deploy", "scopes": "agents:read"})
    assert response.status_code == 302
    assert response["Location"] == f"{CONFIRM}?next={quote(KEYS, safe='')}"
    assert not ApiKey.objects.exists()
    page = unconfirmed.get(response["Location"]).content.decode()
    assert 'type="password"' in page

    response = unconfirmed.post(response["Location"], {"password": PASSWORD})
    # The kept post ran: the key (named as the form said) is shown once, in this answer.
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    (key,) = ApiKey.objects.all()
    assert key.name == "ci-deploy" and key.scopes == ["agents:read"]
    assert key.prefix in response.content.decode()
    # Within 10 minutes the next one is not asked again.
    assert unconfirmed.post(KEYS, {"name": "second"}).status_code == 201


def test_a_wrong_password_asks_again_and_does_nothing(unconfirmed):
    location = unconfirmed.post(KEYS, {"name": "ci"})["Location"]
    response = unconfirmed.post(location, {"password": "not it"})
    assert response.status_code == 200 and 'type="password"' in response.content.decode()
    assert not ApiKey.objects.exists()


def test_an_htmx_post_is_sent_to_the_page_as_a_whole(unconfirmed):
    response = unconfirmed.post(KEYS, {"name": "ci"}, headers=HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(CONFIRM)
    assert not ApiKey.objects.exists()


def test_an_htmx_post_completes_as_a_whole_page_after_the_check(unconfirmed):
    """The browser is on the confirmation page when the kept post runs: the key is shown in the
    portal's page (layout and all), not in the fragment the HTMX form had asked for."""
    location = unconfirmed.post(KEYS, {"name": "ci", "scopes": "agents:read"}, headers=HTMX)[
        "HX-Redirect"
    ]
    response = unconfirmed.post(location, {"password": PASSWORD})
    assert response.status_code == 201
    page = response.content.decode()
    (key,) = ApiKey.objects.all()
    assert key.prefix in page
    assert "<html" in page and 'rel="stylesheet"' in page


def test_the_check_counts_for_ten_minutes(owner_client, monkeypatch):
    assert owner_client.post(KEYS, {"name": "now"}).status_code == 201
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 10 * 60 + 1)
    response = owner_client.post(KEYS, {"name": "later"})
    assert response.status_code == 302 and response["Location"].startswith(CONFIRM)


def test_keys_and_sessions_on_the_api_are_not_asked(api, owner):
    assert api.post("/t/acme-corp/api/v1/admin/api-keys", {"name": "k"}).status_code == 201
    session = login(owner, confirmed=False)
    response = session.post(
        "/t/acme-corp/api/v1/admin/api-keys", {"name": "s"}, content_type="application/json"
    )
    assert response.status_code == 201


def test_other_posts_are_not_asked(unconfirmed, tenant):
    from tests.conftest import mint_admin_key

    key, _ = mint_admin_key(tenant, name="old")
    response = unconfirmed.post(f"{KEYS}/{key.pk}/deprecate")
    assert response.status_code in (200, 303)
    key.refresh_from_db()
    assert key.status == "deprecated"


def test_a_viewer_is_refused_before_being_asked(tenant, owner, viewer):
    client = login(viewer, confirmed=False)
    assert client.post(KEYS, {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    "path, data",
    [
        ("/t/acme-corp/portal/agents", {"name": "bot"}),
        ("/t/acme-corp/portal/settings/members", {"email": "n@acme.test", "role": "viewer"}),
        ("/t/acme-corp/portal/settings", {"requireMfa": "true"}),
        ("/t/acme-corp/portal/settings/webhooks", {"url": "https://example.com/h"}),
    ],
)
def test_each_sensitive_page_asks(unconfirmed, path, data):
    response = unconfirmed.post(path, data)
    assert response.status_code == 302 and response["Location"].startswith(CONFIRM)


def test_the_list_names_real_portal_urls():
    from django.urls import get_resolver

    portal = get_resolver().namespace_dict["portal"][1]
    names = {name for name in portal.reverse_dict if isinstance(name, str)}
    assert set(CONFIRM_ACCESS) <= names
