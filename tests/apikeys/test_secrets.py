"""A minted key's plaintext exists in exactly one place: the body of the response that minted
it. Not in any table, the audit trail or its exports, the logs, any later page or JSON, the
session, the messages framework, or a cache; and that response is `Cache-Control: no-store`."""

import logging
import re

import pytest
from django.contrib.messages.storage.base import BaseStorage
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.db import connection
from django.http import HttpRequest

from apikeys.models import ApiKey
from tests.conftest import HTMX

PAGE = "/t/acme-corp/portal/settings/api-keys"
API = "/t/acme-corp/api/v1/admin/api-keys"

pytestmark = pytest.mark.django_db


def secret_in_html(response):
    return re.search(r'id="minted-key" type="text" value="([^"]+)"', response.content.decode())[1]


def needles(secret):
    """The whole key, and its secret part alone (in case something stores the tail)."""
    from access import keyformat

    parsed = keyformat.parse(secret)
    return [secret, secret[len(parsed.prefix) :]]


def dump_every_table() -> str:
    """Every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def decoded_sessions() -> str:
    return "\n".join(repr(s.get_decoded()) for s in Session.objects.all())


def decoded_messages(client) -> str:
    cookie = client.cookies.get("messages")
    if not cookie or not cookie.value:
        return ""
    return repr(CookieStorage(HttpRequest())._decode(cookie.value))


@pytest.fixture(autouse=True)
def messages_added(monkeypatch):
    """Every message added through the messages framework, even one shown at once."""
    added = []
    original = BaseStorage.add

    def add(self, level, message, extra_tags=""):
        added.append(str(message))
        return original(self, level, message, extra_tags)

    monkeypatch.setattr(BaseStorage, "add", add)
    return added


def assert_nowhere(secret, *, clients, responses_after, caplog, messages_added):
    for needle in needles(secret):
        assert needle not in "\n".join(messages_added)
        assert needle not in dump_every_table()
        assert needle not in decoded_sessions()
        assert needle not in caplog.text
        for client in clients:
            assert needle not in decoded_messages(client)
            assert needle not in str(client.cookies)
        for text in responses_after:
            assert needle not in text


@pytest.fixture
def later_views(owner_client, api):
    """Everything a user or client can read afterwards (keys, audit trail, exports), as text."""

    def fetch():
        key_ids = [str(pk) for pk in ApiKey.objects.values_list("pk", flat=True)]
        responses = [
            owner_client.get(PAGE),
            owner_client.get(PAGE, headers=HTMX),
            api.get(API),
            api.get("/t/acme-corp/api/v1/admin/audit-logs"),
            api.get("/t/acme-corp/api/v1/admin/audit-logs/export", {"format": "csv"}),
            api.get("/t/acme-corp/api/v1/admin/audit-logs/export", {"format": "jsonl"}),
            owner_client.get("/t/acme-corp/portal/audit-log"),
        ]
        for pk in key_ids:
            responses += [api.get(f"{API}/{pk}"), owner_client.get(f"{PAGE}/{pk}")]
        for response in responses:
            assert response.status_code == 200, (response.request["PATH_INFO"], response)
        return [
            (b"".join(r.streaming_content) if r.streaming else r.content).decode() + str(r.headers)
            for r in responses
        ]

    return fetch


def test_a_key_minted_through_the_api_is_nowhere_else(
    messages_added, api, make_api, owner_client, later_views, caplog
):
    caplog.set_level(logging.DEBUG)
    response = api.post(API, {"name": "ci", "scopes": ["agents:read"]})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = response.json()["apiKey"]
    # Use it, and get it rejected once it is revoked, so every code path has seen it.
    assert make_api(secret).get(API).status_code == 403  # agents:read only
    api.post(f"{API}/{response.json()['id']}/revoke")
    assert make_api(secret).get(API).status_code == 401
    assert_nowhere(
        secret,
        clients=[api, owner_client],
        responses_after=later_views(),
        caplog=caplog,
        messages_added=messages_added,
    )


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form-post", "htmx"])
def test_a_key_minted_in_the_portal_is_nowhere_else(
    messages_added, owner_client, later_views, caplog, headers
):
    caplog.set_level(logging.DEBUG)
    response = owner_client.post(PAGE, {"name": "ci"}, headers=headers)
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    assert "Location" not in response
    secret = secret_in_html(response)
    assert_nowhere(
        secret,
        clients=[owner_client],
        responses_after=later_views(),
        caplog=caplog,
        messages_added=messages_added,
    )


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["form-post", "htmx"])
def test_a_rotated_key_is_nowhere_else(
    messages_added, owner_client, api, admin_key, later_views, caplog, headers
):
    caplog.set_level(logging.DEBUG)
    first = owner_client.post(PAGE, {"name": "ci"})
    old = ApiKey.objects.get(name="ci")
    response = owner_client.post(
        f"{PAGE}/{old.pk}/rotate", {"gracePeriod": "3600"}, headers=headers
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = secret_in_html(response)
    assert secret != secret_in_html(first)
    # A message after another action must not carry it either.
    owner_client.post(f"{PAGE}/{old.pk}/revoke")
    assert_nowhere(
        secret,
        clients=[owner_client],
        responses_after=later_views(),
        caplog=caplog,
        messages_added=messages_added,
    )


def test_rotating_through_the_api_is_no_store(api, admin_key):
    response = api.post(f"{API}/{admin_key[0].pk}/rotate")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    assert response.json()["apiKey"] not in dump_every_table()


def test_only_the_digest_and_pepper_version_are_stored(api):
    body = api.post(API, {"name": "ci"}).json()
    key = ApiKey.objects.get(pk=body["id"])
    assert re.fullmatch(r"[0-9a-f]{64}", key.digest)
    assert key.pepper_id and key.public_id in body["prefix"]
    assert body["apiKey"] not in repr(ApiKey.objects.values().get(pk=key.pk))


def test_responses_that_do_not_carry_a_key_are_cacheable_as_usual(api, owner_client, admin_key):
    assert api.get(API).get("Cache-Control") != "no-store"
    assert api.post(f"{API}/{admin_key[0].pk}/deprecate").get("Cache-Control") != "no-store"
