"""Bad bodies on the key endpoints: 400 with per-field `details`, and nothing changes."""

import datetime as dt

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.conftest import HTMX, mint_admin_key

API = "/t/acme-corp/api/v1/admin/api-keys"
PAGE = "/t/acme-corp/portal/settings/api-keys"

pytestmark = pytest.mark.django_db


@pytest.fixture
def unchanged(admin_key):
    """Assert the test changed no key and wrote no audit event."""
    before = list(ApiKey.objects.order_by("pk").values())
    events = AuditEvent.objects.count()
    yield
    assert list(ApiKey.objects.order_by("pk").values()) == before
    assert AuditEvent.objects.count() == events


def assert_400(response, *fields):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "bad_request"
    assert body["status"] == 400
    assert set(fields) <= set(body["details"]), body
    for field in fields:
        assert body["details"][field] and all(isinstance(m, str) for m in body["details"][field])
    return body


LATER = (timezone.now() + dt.timedelta(days=1)).isoformat()
PAST = "2020-01-01T00:00:00Z"

BAD_MINTS = [
    ({"name": "ci", "colour": "blue"}, "colour", "Unknown field."),
    ({"name": 5}, "name", "Must be a string."),
    ({"name": None}, "name", "This field is required."),
    ({"name": ["ci"]}, "name", "Must be a string."),
    ({}, "name", "This field is required."),
    ({"name": "   "}, "name", "This field may not be blank."),
    ({"name": "x" * 101}, "name", "At most 100 characters (it has 101)."),
    ({"name": "ci\x00"}, "name", None),
    ({"name": "ci\x07bell"}, "name", None),
    ({"name": "ci\nnext"}, "name", None),
    ({"name": "evil\u202egpj.exe"}, "name", None),
    ({"name": "a\u2066b"}, "name", None),
    ({"name": "zero\u200bwidth"}, "name", None),
    ({"name": "\ufeffbom"}, "name", None),
    ({"name": "ci", "scopes": "agents:read"}, "scopes", "Must be a list of strings."),
    ({"name": "ci", "scopes": [1]}, "scopes", None),
    ({"name": "ci", "scopes": ["admin:everything"]}, "scopes", "Unknown value 'admin:everything'."),
    ({"name": "ci", "expiresAt": PAST}, "expiresAt", "Must be in the future."),
    ({"name": "ci", "expiresAt": "tomorrow"}, "expiresAt", "Not an ISO 8601 timestamp."),
    ({"name": "ci", "expiresAt": 1893456000}, "expiresAt", None),
    ({"name": "ci", "expiresAt": LATER, "expiresIn": 60}, "expiresIn", None),
    ({"name": "ci", "expiresIn": 0}, "expiresIn", None),
    ({"name": "ci", "expiresIn": -60}, "expiresIn", None),
    ({"name": "ci", "expiresIn": "3600"}, "expiresIn", "Must be an integer."),
    ({"name": "ci", "expiresIn": 1.5}, "expiresIn", "Must be an integer."),
    ({"name": "ci", "rateLimitPerMinute": 0}, "rateLimitPerMinute", None),
    ({"name": "ci", "rateLimitPerMinute": True}, "rateLimitPerMinute", "Must be an integer."),
    ({"name": "ci", "allowedIps": "10.0.0.1"}, "allowedIps", None),
    ({"name": "ci", "allowedIps": ["10.0.0.300"]}, "allowedIps", None),
]


@pytest.mark.parametrize("body,field,message", BAD_MINTS)
def test_bad_mint_bodies_are_400_with_details(api, unchanged, body, field, message):
    details = assert_400(api.post(API, body), field)["details"]
    if message:
        assert details[field] == [message]


def test_every_problem_is_reported_at_once(api, unchanged):
    body = assert_400(
        api.post(API, {"name": 7, "scopes": ["nope"], "expiresIn": -1, "extra": 1}),
        "name",
        "scopes",
        "expiresIn",
        "extra",
    )
    assert body["message"] == "Validation failed."


def test_a_name_of_100_characters_is_fine(api):
    assert api.post(API, {"name": "x" * 100}).status_code == 201


def test_names_are_trimmed_and_nfc_normalised(api, tenant):
    body = api.post(API, {"name": "  Caf\u0065\u0301 bot  "}).json()
    assert body["name"] == "Caf\u00e9 bot"
    assert tenant.api_keys.get(pk=body["id"]).name == "Caf\u00e9 bot"


def test_expires_at_without_a_zone_is_utc(api):
    at = (timezone.now() + dt.timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    body = api.post(API, {"name": "ci", "expiresAt": at.isoformat()}).json()
    assert body["expiresAt"] == at.isoformat() + ".000Z"


def test_allowed_ips_are_normalised_to_networks(api):
    body = api.post(API, {"name": "ci", "allowedIps": ["10.0.0.1", "192.168.1.0/24"]}).json()
    assert body["allowedIps"] == ["10.0.0.1/32", "192.168.1.0/24"]


@pytest.fixture
def key(tenant):
    return mint_admin_key(tenant, name="target")[0]


@pytest.mark.parametrize(
    "grace,message",
    [
        (-1, "Ensure this value is greater than or equal to 0."),
        (604801, "Ensure this value is less than or equal to 604800."),
        ("3600", "Must be an integer."),
        (1.5, "Must be an integer."),
        (True, "Must be an integer."),
    ],
)
def test_grace_period_out_of_range_or_wrong_type_is_400(api, key, unchanged, grace, message):
    body = assert_400(api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": grace}), "gracePeriod")
    assert body["details"]["gracePeriod"] == [message]


@pytest.mark.parametrize("grace", [0, 604800])
def test_grace_period_bounds_are_accepted(api, key, grace):
    assert api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": grace}).status_code == 201


def test_a_whole_number_written_with_a_decimal_point_is_an_integer(api, key):
    # JSON has one number type: 60.0 is 60 (as JSON Schema and the OpenAPI document read it).
    response = api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": 60.0})
    assert response.status_code == 201
    old = api.get(f"{API}/{key.pk}").json()
    assert old["status"] == "deprecated"


def test_unknown_field_on_rotate(api, key, unchanged):
    assert_400(api.post(f"{API}/{key.pk}/rotate", {"grace": 60}), "grace")


@pytest.mark.parametrize(
    "body,field", [({"reason": "x" * 501}, "reason"), ({"reason": 5}, "reason")]
)
def test_bad_revoke_reason_is_400(api, key, unchanged, body, field):
    assert_400(api.post(f"{API}/{key.pk}/revoke", body), field)


@pytest.mark.parametrize("action", ["deprecate", "activate"])
def test_actions_without_a_body_refuse_any_field(api, key, unchanged, action):
    assert_400(api.post(f"{API}/{key.pk}/{action}", {"force": True}), "force")


def test_delete_refuses_a_body_with_fields(api, key, unchanged):
    response = api.generic(
        "DELETE",
        f"{API}/{key.pk}",
        '{"cascade": true}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert_400(response, "cascade")


def test_portal_form_with_a_bad_grace_period_shows_the_error(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}/rotate", {"gracePeriod": "999999"})
    assert response.status_code == 400
    assert "less than or equal to 604800" in response.content.decode()
    response = owner_client.post(f"{PAGE}/{key.pk}/rotate", {"gracePeriod": "-1"}, headers=HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
    key.refresh_from_db()
    assert key.status == "active"
    assert not ApiKey.objects.filter(rotated_from=key).exists()


def test_portal_form_with_a_bad_scope_is_400(owner_client, tenant):
    response = owner_client.post(PAGE, {"name": "ci", "scopes": ["root"]})
    assert response.status_code == 400
    assert "Unknown value" in response.content.decode()
    assert not tenant.api_keys.exists()
