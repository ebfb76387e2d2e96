"""Crafted input is a 400 or a 404, never a 500: cursors, out-of-range timestamps, NUL bytes in
URLs (PostgreSQL refuses NUL in text), and a bad query string on a page that re-renders itself."""

import base64
import json

import pytest

from tests.conftest import HTMX

ADMIN = "/t/acme-corp/api/v1/admin"
PORTAL = "/t/acme-corp/portal"
ZERO = "00000000-0000-0000-0000-000000000000"
LISTS = ["/api-keys", "/agents", "/roles", "/audit-logs"]


def cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


CRAFTED_CURSORS = {
    "id-is-a-number": cursor(["2024-01-01T00:00:00Z", 5]),
    "id-is-a-list": cursor(["2024-01-01T00:00:00Z", ["a"]]),
    "id-is-an-object": cursor(["2024-01-01T00:00:00Z", {"x": 1}]),
    "time-is-an-object": cursor([{"a": 1}, ZERO]),
    "before-year-1-in-utc": cursor(["0001-01-01T00:00:00+14:00", ZERO]),
    "after-year-9999-in-utc": cursor(["9999-12-31T23:59:59-14:00", ZERO]),
}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("crafted", CRAFTED_CURSORS.values(), ids=CRAFTED_CURSORS.keys())
def test_a_crafted_cursor_is_a_400_not_a_500(api, path, crafted):
    response = api.get(ADMIN + path, {"cursor": crafted})
    assert response.status_code == 400
    assert response.json()["details"] == {"cursor": ["Invalid cursor."]}


def test_a_naive_cursor_time_is_taken_as_utc(api):
    response = api.get(ADMIN + "/api-keys", {"cursor": cursor(["2999-01-01T00:00:00", ZERO])})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1  # the `api` fixture's own key


OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("param", ["since", "until"])
def test_audit_filters_past_the_calendar_are_400(api, param, value):
    assert api.get(ADMIN + "/audit-logs", {param: value}).status_code == 400
    export = api.get(ADMIN + "/audit-logs/export", {param: value, "format": "csv"})
    assert export.status_code == 400


def test_an_expiry_past_year_9999_in_utc_is_400_and_mints_nothing(api, tenant):
    response = api.post(ADMIN + "/api-keys", {"name": "far", "expiresAt": OUT_OF_RANGE[1]})
    assert response.status_code == 400
    assert "expiresAt" in response.json()["details"]
    response = api.post(ADMIN + "/agents", {"name": "far", "expiresAt": OUT_OF_RANGE[1]})
    assert response.status_code == 400
    assert not tenant.agents.exists()
    assert tenant.api_keys.count() == 1


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_portal_form_with_an_out_of_range_expiry_is_400(owner_client, tenant, headers):
    response = owner_client.post(
        PORTAL + "/agents", {"name": "far", "expiresAt": OUT_OF_RANGE[0]}, headers=headers
    )
    assert response.status_code == 400
    assert not tenant.agents.exists()


# Each with a method its route takes: a 405 would be answered before the id is looked at.
NUL_PATHS = [
    ("get", "/api-keys/%00"),
    ("delete", "/api-keys/%00"),
    ("post", "/api-keys/%00/revoke"),
    ("get", "/agents/%00"),
    ("patch", "/agents/%00"),
    ("get", "/roles/%00"),
    ("patch", "/roles/%00"),
    ("delete", f"/agents/{ZERO}/grants/%00"),
]


@pytest.mark.parametrize(("method", "path"), NUL_PATHS)
def test_a_nul_byte_in_an_object_id_is_404(api, method, path):
    if method in ("get", "delete"):
        response = getattr(api, method)(ADMIN + path)
    else:
        response = getattr(api, method)(ADMIN + path, {})
    assert response.status_code == 404, response.content
    assert response.json()["error"] == "not_found"


def test_a_nul_byte_in_the_tenant_slug_is_404_for_a_member(owner_client):
    assert owner_client.get("/t/acme%00/portal/").status_code == 404
    assert owner_client.get("/t/acme%00/api/v1/admin/agents").status_code == 404


def test_a_nul_byte_in_a_role_slug_on_the_portal_is_404(owner_client):
    assert owner_client.get(PORTAL + "/roles/%00").status_code == 404
    assert owner_client.post(PORTAL + "/roles/%00/delete").status_code == 404


def test_a_bad_filter_on_a_page_that_re_renders_itself_is_a_400_page(owner_client, tenant):
    """The agents page re-renders itself for a form's errors and reads the query string to
    do so: a bad filter there must give the error page, not fail a second time (500)."""
    response = owner_client.get(PORTAL + "/agents", {"type": "<script>x</script>"})
    assert response.status_code == 400
    assert b"<html" in response.content
    assert b"<script>x</script>" not in response.content


DEEP = {
    "array": b"[" * 200_000 + b"]" * 200_000,
    "in-a-field": b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "objects": b'{"name": "x", "scopes": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
}


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
def test_json_nested_past_the_parsers_depth_is_400_and_mints_nothing(api, tenant, body):
    response = api.generic(
        "POST",
        ADMIN + "/api-keys",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert tenant.api_keys.count() == 1
