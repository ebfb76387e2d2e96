"""List first, create second: the keys page opens on its table; "Create API key" is a
disclosure holding the form, which defaults to 30 days, warns about no expiry and makes full
admin an explicit choice (ticking nothing is refused, not a silent full-admin key)."""

import re

import pytest

from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db

PAGE = "/t/acme-corp/portal/settings/api-keys"
API = "/t/acme-corp/api/v1/admin/api-keys"


def test_the_form_is_closed_behind_create_api_key_and_defaults_to_30_days(owner_client):
    html = owner_client.get(PAGE).content.decode()
    assert re.search(r'<details class="card create-key">\s*<summary>Create API key</summary>', html)
    selected = re.findall(r'<option value="([^"]*)" selected>([^<]+)</option>', html)
    assert ("2592000", "30 days") in selected
    assert "No expiry (not recommended)" in html and 'id="mint-expiry-help"' in html
    assert 'value="full" aria-describedby="full-admin-warning"' in html


def test_ticking_no_scope_is_refused_not_full_admin(owner_client, tenant):
    response = owner_client.post(PAGE, {"name": "ci", "access": "scoped"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Tick at least one scope, or choose full admin." in html
    assert '<details class="card create-key" open>' in html  # the form stays open to fix
    assert not ApiKey.objects.filter(tenant=tenant, name="ci").exists()


def test_full_admin_is_an_explicit_choice(owner_client, tenant):
    form = {"name": "root", "access": "full", "scopes": ["audit:read"]}
    assert owner_client.post(PAGE, form).status_code == 201
    assert ApiKey.objects.get(tenant=tenant, name="root").scopes == []  # every scope


def test_scoped_keys_keep_their_scopes(owner_client, tenant):
    form = {"name": "reader", "access": "scoped", "scopes": ["audit:read"]}
    assert owner_client.post(PAGE, form).status_code == 201
    assert ApiKey.objects.get(tenant=tenant, name="reader").scopes == ["audit:read"]


def test_the_json_api_knows_no_access_field(api):
    assert api.post(API, {"name": "x", "access": "full"}).status_code == 400
    assert api.post(API, {"name": "y"}).status_code == 201  # SPEC: no scopes is full admin
