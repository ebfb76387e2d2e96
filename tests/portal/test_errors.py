"""Every error under /api/v1/ is a SPEC §4 JSON body, on both mounts: unknown paths, 405 with
Allow, CSRF failures, and unexpected exceptions (500). The portal answers HTML."""

import pytest
from django.test import Client
from django.urls import include, path

from access.decorators import tenant_view
from portal.urls import urlpatterns as real_urlpatterns

pytestmark = pytest.mark.django_db

MOUNTS = ["/t/acme-corp/api/v1", "/orgs/acme-corp/api/v1"]


# A test-only URLconf: the real one plus views that fail in unexpected ways.
@tenant_view(scope="api_keys:read")
def boom(request, tenant):
    raise RuntimeError("something nobody planned for")


def boom_unguarded(request, tenant):
    raise ZeroDivisionError


boom_patterns = [path("boom", boom), path("boom-raw", boom_unguarded)]
urlpatterns = [
    path("t/<str:tenant>/api/v1/", include(boom_patterns)),
    path("orgs/<str:tenant>/api/v1/", include(boom_patterns)),
    path("t/<str:tenant>/portal/", include(boom_patterns)),
    *real_urlpatterns,
]


def assert_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"error", "message", "status", "details"}
    return body


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize(
    "tail", ["/nope", "/admin/nothing-here", "/admin/api-keys/x/y/z", "/admin/api-keys/"]
)
def test_unknown_api_paths_are_json_404(api, mount, tail):
    assert_error(api.get(mount + tail), 404, "not_found")


def test_unknown_api_paths_are_json_404_without_credentials(tenant):
    assert_error(Client().get("/t/acme-corp/api/v1/nope"), 404, "not_found")
    assert_error(Client().post("/orgs/whoever/api/v1/nope"), 404, "not_found")


def test_unknown_portal_paths_are_html_404(owner_client):
    response = owner_client.get("/t/acme-corp/portal/nope")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("mount", MOUNTS)
def test_wrong_method_is_405_with_allow(api, admin_key, mount):
    body = assert_error(api.put(f"{mount}/admin/api-keys", {}), 405, "method_not_allowed")
    assert body["message"]
    response = api.put(f"{mount}/admin/api-keys", {})
    assert set(response["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    response = api.put(f"{mount}/admin/api-keys/{admin_key[0].pk}", {})
    assert_error(response, 405, "method_not_allowed")
    assert {"DELETE", "GET", "HEAD", "PATCH"} <= set(response["Allow"].split(", "))
    response = api.get(f"{mount}/admin/api-keys/{admin_key[0].pk}/revoke")
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_the_apis_allow_header_names_only_what_the_api_takes(
    api, admin_key, owner_client, settings
):
    """The portal edits with a form POST where the API takes PUT/PATCH/DELETE: a 405 under
    /api/v1/ never advertises that POST, and a POST there is a 405, not a 404 or an edit."""
    from access.actor import Actor
    from agents.models import Role
    from webhooks import services as webhooks

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # no DNS look-up for the example host
    hook, _ = webhooks.create_webhook(
        admin_key[0].tenant, Actor.system("tests"), url="http://127.0.0.1/hook"
    )
    Role.objects.create(tenant=admin_key[0].tenant, slug="support", name="Support")
    api_base = "/t/acme-corp/api/v1/admin"
    for suffix, allow in [
        (f"/api-keys/{admin_key[0].pk}", "GET, HEAD, PATCH, DELETE"),
        ("/roles/support", "GET, HEAD, PUT, PATCH, DELETE"),
        (f"/webhooks/{hook.pk}", "GET, HEAD, PATCH, DELETE"),
        ("/settings", "GET, HEAD, PATCH"),
    ]:
        for method in ("post", "options"):
            response = api._send(method, api_base + suffix, {}, {})
            assert_error(response, 405, "method_not_allowed")
            assert response["Allow"] == allow, suffix
    page = owner_client.put(f"/t/acme-corp/portal/settings/api-keys/{admin_key[0].pk}")
    assert page.status_code == 405
    assert page["Allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize("mount", MOUNTS)
def test_401_and_403_are_json(tenant, make_api, mount):
    from tests.conftest import mint_admin_key

    assert_error(Client().get(f"{mount}/admin/api-keys"), 401, "unauthorized")
    _, secret = mint_admin_key(tenant, name="ro", scopes=["audit:read"])
    assert_error(make_api(secret).get(f"{mount}/admin/api-keys"), 403, "forbidden")


def test_csrf_failure_on_the_json_api_is_json_403(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(
        "/t/acme-corp/api/v1/admin/api-keys", "{}", content_type="application/json"
    )
    assert_error(response, 403, "forbidden")


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("mount", MOUNTS)
def test_an_unexpected_exception_is_a_json_500(api, mount, caplog):
    client = api
    client.raise_request_exception = False
    body = assert_error(client.get(f"{mount}/boom"), 500, "internal_error")
    assert body == {"error": "internal_error", "message": "Internal server error.", "status": 500}
    assert "something nobody planned for" not in str(body)
    # Logged for the operator, with the traceback.
    assert "RuntimeError" in caplog.text


@pytest.mark.urls(__name__)
def test_an_unexpected_exception_outside_tenant_view_is_a_json_500_too(tenant):
    client = Client(raise_request_exception=False)
    assert_error(client.get("/orgs/acme-corp/api/v1/boom-raw"), 500, "internal_error")


@pytest.mark.urls(__name__)
def test_an_unexpected_exception_in_the_portal_is_an_html_500(owner_client):
    owner_client.raise_request_exception = False
    response = owner_client.get("/t/acme-corp/portal/boom")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b"nobody planned" not in response.content


def test_validation_errors_carry_details(api):
    body = assert_error(
        api.post("/t/acme-corp/api/v1/admin/api-keys", {"name": ""}), 400, "bad_request"
    )
    assert body["details"] == {"name": ["This field is required."]}


def test_portal_errors_for_htmx_go_to_the_flash_region(viewer_client, tenant):
    response = viewer_client.post(
        "/t/acme-corp/portal/settings/api-keys", {"name": "x"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#flash"
    assert b'role="alert"' in response.content
    assert b"<html" not in response.content
