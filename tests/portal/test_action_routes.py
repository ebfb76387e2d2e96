"""Each action on an agent, key, member or webhook is its own route and view (no `<action>`
catch-all): an unknown action is a 404 like any unknown path, whatever the method and the
credentials; a known one takes POST only; the portal's delete forms are no API routes."""

import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

API = "/t/acme-corp/api/v1/admin"
PORTAL = "/t/acme-corp/portal"
# Ids need not exist: a path is routed, and a method refused, before any object is loaded.
ID, KEY = uuid.uuid4(), uuid.uuid4()

API_ACTIONS = [
    *(f"/agents/{ID}/{a}" for a in ("activate", "deactivate")),
    *(f"/agents/{ID}/keys/{KEY}/{a}" for a in ("rotate", "deprecate", "activate", "revoke")),
    f"/agents/{ID}/keys/{KEY}/delete",
    *(f"/api-keys/{KEY}/{a}" for a in ("rotate", "deprecate", "activate", "revoke")),
    *(f"/webhooks/{ID}/{a}" for a in ("rotate-secret", "test")),
]
PORTAL_ACTIONS = [
    *(p.replace("/api-keys/", "/settings/api-keys/") for p in API_ACTIONS if "/webhooks/" not in p),
    *(f"/settings/webhooks/{ID}/{a}" for a in ("rotate-secret", "test", "delete")),
    f"/agents/{ID}/delete",
    f"/settings/api-keys/{KEY}/delete",
    *(f"/settings/members/{ID}/{a}" for a in ("role", "remove")),
]
UNKNOWN_API = [
    f"/agents/{ID}/explode",
    f"/agents/{ID}/keys/{KEY}/explode",
    f"/api-keys/{KEY}/explode",
    f"/webhooks/{ID}/explode",
    # The portal's delete forms: the API deletes with DELETE on the object.
    f"/agents/{ID}/delete",
    f"/api-keys/{KEY}/delete",
    f"/webhooks/{ID}/delete",
]
UNKNOWN_PORTAL = [
    f"/agents/{ID}/explode",
    f"/agents/{ID}/keys/{KEY}/explode",
    f"/settings/api-keys/{KEY}/explode",
    f"/settings/webhooks/{ID}/explode",
    f"/settings/members/{ID}/explode",
]


def assert_not_found(response):
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("tail", UNKNOWN_API)
def test_an_unknown_api_action_is_a_404_for_every_method_and_caller(api, tail):
    assert_not_found(api.post(API + tail))
    assert_not_found(api.get(API + tail))
    assert_not_found(Client().post(API + tail))


@pytest.mark.parametrize("tail", UNKNOWN_PORTAL)
def test_an_unknown_portal_action_is_a_404(owner_client, tail):
    for send in (owner_client.post, owner_client.get):
        response = send(PORTAL + tail)
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("tail", API_ACTIONS)
def test_an_api_action_takes_post_only(api, tail):
    response = api.get(API + tail)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("tail", PORTAL_ACTIONS)
def test_a_portal_action_takes_post_only(owner_client, tail):
    response = owner_client.get(PORTAL + tail)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
