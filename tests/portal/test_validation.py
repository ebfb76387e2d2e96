"""Request bodies (SPEC §4): JSON objects only, Content-Type, size, unknown fields, and the
name rules, through the key endpoints and the shared field helpers. Nothing changes on a 4xx."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from apikeys.models import ApiKey
from audit.models import AuditEvent
from portal.validation import clean_name

API = "/t/acme-corp/api/v1/admin/api-keys"

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw(admin_key):
    """POST raw bytes with any content type, authenticated with the admin key."""

    def send(body, content_type="application/json", path=API, **headers):
        return Client().generic(
            "POST",
            path,
            body,
            content_type=content_type,
            headers={"Authorization": f"Bearer {admin_key[1]}", **headers},
        )

    return send


@pytest.fixture
def unchanged(admin_key):
    """The test leaves keys and the audit trail exactly as they were."""
    keys, events = ApiKey.objects.count(), AuditEvent.objects.count()
    yield
    assert ApiKey.objects.count() == keys
    assert AuditEvent.objects.count() == events


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["error"], body["status"]) == (code, status)
    return body


def test_a_body_over_one_mib_is_413(unchanged, raw):
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    error_of(raw(body), 413, "payload_too_large")


def test_a_body_of_exactly_one_mib_is_read(unchanged, raw):
    padding = 1024 * 1024 - len(b'{"name": "ci", "pad": ""}')
    body = b'{"name": "ci", "pad": "' + b" " * padding + b'"}'
    assert len(body) == 1024 * 1024
    # Read and parsed (so: an unknown field), not refused for its size.
    assert error_of(raw(body), 400, "bad_request")["details"] == {"pad": ["Unknown field."]}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
)
def test_a_body_that_is_not_json_is_415(unchanged, raw, content_type):
    error_of(raw(b'{"name": "ci"}', content_type=content_type), 415, "unsupported_media_type")


def test_json_with_a_charset_mints(raw):
    response = raw(b'{"name": "ci"}', content_type="application/json; charset=utf-8")
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body", [b"{", b'{"name": "ci",}', b"{'name': 'ci'}", b'{"name": "ci"} trailing', b"\xff\xfe{}"]
)
def test_malformed_json_is_400(unchanged, raw, body):
    assert error_of(raw(body), 400, "bad_request")["message"] == "Malformed JSON body."


@pytest.mark.parametrize("body", [b"[]", b'["ci"]', b'"ci"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_400(unchanged, raw, body):
    assert error_of(raw(body), 400, "bad_request")["message"] == "The body must be a JSON object."


def test_an_empty_body_is_an_empty_object(unchanged, raw):
    body = error_of(raw(b""), 400, "bad_request")
    assert body["details"] == {"name": ["This field is required."]}


def test_unknown_fields_are_400_each_named(unchanged, raw):
    body = error_of(raw(b'{"name": "ci", "Name": "x", "api_key": "y"}'), 400, "bad_request")
    assert body["details"] == {"Name": ["Unknown field."], "api_key": ["Unknown field."]}


def test_snake_case_field_names_are_unknown(unchanged, raw):
    body = error_of(raw(b'{"name": "ci", "expires_in": 60}'), 400, "bad_request")
    assert body["details"] == {"expires_in": ["Unknown field."]}


@pytest.mark.parametrize(
    "value,expected",
    [
        ("  ci  ", "ci"),
        ("Cafe\u0301", "Caf\u00e9"),
        ("x" * 100, "x" * 100),
        (
            "\u65e5\u672c\u8a9e\u306e\u30dc\u30c3\u30c8",
            "\u65e5\u672c\u8a9e\u306e\u30dc\u30c3\u30c8",
        ),
        ("deploy bot (prod) #2", "deploy bot (prod) #2"),
    ],
)
def test_clean_name_accepts_and_normalises(value, expected):
    assert clean_name(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "x" * 101,
        "tab\there",
        "nul\x00",
        "del\x7f",
        "rlo\u202e",
        "lri\u2066",
        "lrm\u200e",
        "zwsp\u200b",
        "zwj\u200d",
        "bom\ufeff",
        "line\u2028sep",
        "private\ue000",
    ],
)
def test_clean_name_refuses(value):
    with pytest.raises(ValidationError):
        clean_name(value)
