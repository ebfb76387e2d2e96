"""SPEC conformance of the JSON APIs, checked as an outside client would: through the URLs only.

One test per SPEC rule, named for the rule. Paths are written out in full (no `reverse`), since
they are the contract.
"""

import json
import re
import uuid

import pytest

from tests.conftest import mint_admin_key
from tests.spec import AGENT_FIELDS, EVENT_FIELDS, KEY_FIELDS, ROLE_FIELDS, VERIFY_FIELDS

pytestmark = pytest.mark.django_db

T = "/t/acme-corp/api/v1"
ORGS = "/orgs/acme-corp/api/v1"
ADMIN = f"{T}/admin"

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "rate_limited",
}

TIMESTAMP_FIELDS = {
    "expiresAt",
    "lastUsedAt",
    "createdAt",
    "updatedAt",
    "deprecatedAt",
    "revokedAt",
    "occurredAt",
}
ID_FIELDS = {"id", "agentId", "keyId", "rotatedFromId", "replacedById"}


# --- helpers ------------------------------------------------------------------------------


def assert_error(response, status):
    """SPEC §4: `{"error", "message", "status"[, "details"]}` with the status's code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) - {"details"} == {"error", "message", "status"}, body
    assert body["error"] == ERROR_CODES[status]
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    if "details" in body:
        assert all(isinstance(v, list) for v in body["details"].values())
    return body


def assert_formats(obj):
    """Timestamps ISO 8601 UTC with Z, ids UUIDs, no snake_case keys, recursively."""
    if isinstance(obj, list):
        for item in obj:
            assert_formats(item)
        return
    if not isinstance(obj, dict):
        return
    for name, value in obj.items():
        assert "_" not in name, f"snake_case field {name!r}"
        if name in TIMESTAMP_FIELDS and value is not None:
            assert TIMESTAMP.match(value), f"{name}={value!r}"
        if name in ID_FIELDS and value is not None:
            uuid.UUID(value)
        assert_formats(value)


def assert_key(data, *, secret=False):
    assert set(data) == KEY_FIELDS | ({"apiKey"} if secret else set()), set(data) ^ KEY_FIELDS
    assert set(data["createdBy"]) == {"type", "id", "name"}
    assert data["createdBy"]["type"] in ("user", "api_key", "agent", "system")
    assert data["kind"] in ("admin", "agent")
    assert data["status"] in ("active", "deprecated", "revoked")
    assert isinstance(data["scopes"], list)
    assert_formats(data)


def assert_agent(data, *, secret=False):
    missing = AGENT_FIELDS - set(data)
    assert not missing, missing
    assert ("apiKey" in data) == secret
    for key in data["keys"]:
        assert_key(key)
    assert_formats(data)


def assert_list(response, check=None):
    """SPEC §4 list envelope."""
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"data", "hasMore", "nextCursor"}
    assert isinstance(body["data"], list)
    assert isinstance(body["hasMore"], bool)
    assert body["nextCursor"] is None or isinstance(body["nextCursor"], str)
    for row in body["data"]:
        assert_formats(row)
        if check:
            check(row)
    return body


def assert_no_store(response):
    assert "no-store" in response.get("Cache-Control", ""), dict(response.headers)


def assert_ratelimit_headers(response):
    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert response.get(header, "").isdigit(), (header, dict(response.headers))


def create_agent(api, name="Report Bot", **fields):
    response = api.post(f"{ADMIN}/agents", {"name": name, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def create_role(api, slug="support-agent", permissions=("read:reports",)):
    response = api.post(
        f"{ADMIN}/roles", {"slug": slug, "name": slug.title(), "permissions": list(permissions)}
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def agent(api):
    return create_agent(api)


@pytest.fixture
def agent_api(make_api, agent):
    return make_api(agent["apiKey"])


@pytest.fixture
def grant(api, agent):
    response = api.post(
        f"{ADMIN}/agents/{agent['id']}/grants", {"permission": "write:tickets", "expiresIn": 600}
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- §2 URLs and the /orgs alias ----------------------------------------------------------

LIST_PATHS = [
    "/admin/api-keys",
    "/admin/agents",
    "/admin/roles",
    "/admin/audit-logs",
]


@pytest.mark.parametrize("base", [T, ORGS])
@pytest.mark.parametrize("path", LIST_PATHS)
def test_admin_lists_are_served_under_t_and_orgs_mounts(api, base, path):
    assert_list(api.get(f"{base}{path}"))


def test_orgs_alias_serves_every_admin_and_runtime_endpoint(api, agent, agent_api, grant):
    a = agent["id"]
    for path in (
        f"/admin/agents/{a}",
        f"/admin/agents/{a}/keys",
        f"/admin/agents/{a}/grants",
        f"/admin/api-keys/{agent['keys'][0]['id']}",
    ):
        assert api.get(f"{ORGS}{path}").status_code == 200, path
    assert agent_api.get(f"{ORGS}/agents/me").json()["id"] == a
    assert agent_api.get(f"{ORGS}/agents/me/usage").status_code == 200
    assert agent_api.get(f"{ORGS}/agents/me/grants").status_code == 200
    verify = api.post(f"{ORGS}/keys/verify", {"key": agent["apiKey"]})
    assert verify.json()["code"] == "VALID"


# --- §3 authentication --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        lambda k: {"Authorization": f"Bearer {k}"},
        lambda k: {"Authorization": f"ApiKey {k}"},
        lambda k: {"X-API-Key": k},
    ],
    ids=["bearer", "apikey", "x-api-key"],
)
def test_admin_key_authenticates_in_each_header_form(anon_api, admin_key, headers):
    response = anon_api.get(f"{ADMIN}/api-keys", headers=headers(admin_key[1]))
    assert response.status_code == 200


def test_two_credentials_in_one_request_is_400(anon_api, admin_key, tenant):
    _, other = mint_admin_key(tenant, name="second")
    response = anon_api.get(
        f"{ADMIN}/api-keys",
        headers={"Authorization": f"Bearer {admin_key[1]}", "X-API-Key": other},
    )
    assert_error(response, 400)


@pytest.mark.parametrize(
    "path", ["/admin/api-keys", "/admin/agents", "/admin/roles", "/admin/audit-logs", "/agents/me"]
)
def test_missing_credentials_are_401_with_www_authenticate_bearer(anon_api, tenant, path):
    response = anon_api.get(f"{T}{path}")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_key_is_401_with_www_authenticate_bearer(make_api, tenant):
    response = make_api("lmk_notarealkey").get(f"{ADMIN}/api-keys")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_tenant_slug_is_401_not_404(api):
    response = api.get("/t/no-such-tenant/api/v1/admin/api-keys")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_key_of_another_tenant_is_401(make_api, other_tenant, tenant):
    _, secret = mint_admin_key(other_tenant)
    assert_error(make_api(secret).get(f"{ADMIN}/api-keys"), 401)


def test_key_in_query_string_is_not_accepted(anon_api, admin_key):
    response = anon_api.get(f"{ADMIN}/api-keys", {"api_key": admin_key[1]})
    assert_error(response, 401)


def test_agent_key_on_admin_api_is_403(agent_api):
    response = agent_api.get(f"{ADMIN}/agents")
    assert_error(response, 403)
    assert_ratelimit_headers(response)


def test_admin_key_on_agent_runtime_api_is_403(api):
    response = api.get(f"{T}/agents/me")
    assert_error(response, 403)
    assert_ratelimit_headers(response)


def test_deprecated_key_carries_deprecation_and_sunset_headers(api, make_api, tenant):
    minted = api.post(f"{ADMIN}/api-keys", {"name": "old", "expiresIn": 3600}).json()
    deprecated = api.post(f"{ADMIN}/api-keys/{minted['id']}/deprecate").json()
    response = make_api(minted["apiKey"]).get(f"{ADMIN}/api-keys")
    assert response.status_code == 200
    at = int(
        __import__("datetime")
        .datetime.fromisoformat(deprecated["deprecatedAt"].replace("Z", "+00:00"))
        .timestamp()
    )
    assert response["Deprecation"] == f"@{at}"
    assert response["Sunset"].endswith("GMT")


# --- §4 format ----------------------------------------------------------------------------


WRITE_BODIES = [
    ("post", "/admin/api-keys", {"name": "k"}),
    ("post", "/admin/agents", {"name": "Bot"}),
    ("post", "/admin/roles", {"slug": "r", "name": "R"}),
    ("post", "/keys/verify", {"key": "x"}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITE_BODIES)
def test_body_without_json_content_type_is_415(api, method, path, body):
    response = getattr(api, method)(f"{T}{path}", body, content_type="text/plain")
    assert_error(response, 415)


@pytest.mark.parametrize(("method", "path", "body"), WRITE_BODIES)
def test_body_over_one_mib_is_413(api, method, path, body):
    response = getattr(api, method)(f"{T}{path}", {**body, "pad": "x" * (1024 * 1024 + 1)})
    assert_error(response, 413)


@pytest.mark.parametrize(("method", "path", "body"), WRITE_BODIES)
def test_malformed_json_is_400(api, method, path, body):
    response = api.generic(
        method.upper(),
        f"{T}{path}",
        b"{not json",
        content_type="application/json",
        headers=api._headers({}),
    )
    assert_error(response, 400)


def _unknown_field_cases(agent, grant, key_id):
    a = f"/admin/agents/{agent['id']}"
    return [
        ("post", "/admin/api-keys", {"name": "k"}),
        ("post", f"/admin/api-keys/{key_id}/rotate", {}),
        ("post", f"/admin/api-keys/{key_id}/revoke", {}),
        ("post", f"/admin/api-keys/{key_id}/deprecate", {}),
        ("post", f"/admin/api-keys/{key_id}/activate", {}),
        ("post", "/admin/agents", {"name": "Bot 2"}),
        ("put", a, {}),
        ("patch", a, {}),
        ("post", f"{a}/rotate-key", {}),
        ("post", f"{a}/keys", {"name": "k"}),
        ("post", f"{a}/grants", {"permission": "read:x"}),
        ("post", "/admin/roles", {"slug": "r", "name": "R"}),
        ("put", "/admin/roles/support-agent", {}),
        ("patch", "/admin/roles/support-agent", {}),
        ("post", "/keys/verify", {"key": "x"}),
    ]


def test_unknown_fields_are_400_on_every_body_and_change_nothing(api, agent, grant, admin_key):
    create_role(api)
    key_id = str(mint_admin_key(admin_key[0].tenant, name="target")[0].pk)
    before = api.get(f"{ADMIN}/audit-logs", {"limit": 200}).json()["data"]
    for method, path, body in _unknown_field_cases(agent, grant, key_id):
        response = getattr(api, method)(f"{T}{path}", {**body, "bogusField": 1})
        body = assert_error(response, 400)
        assert "bogusField" in body.get("details", {}), (method, path, body)
    after = api.get(f"{ADMIN}/audit-logs", {"limit": 200}).json()["data"]
    assert len(after) == len(before)


def test_unknown_fields_are_400_on_agent_runtime_bodies(agent_api):
    for path in ("/agents/me/rotate", "/agents/me/deactivate"):
        response = agent_api.post(f"{T}{path}", {"bogusField": 1})
        assert "bogusField" in assert_error(response, 400).get("details", {}), path
    assert agent_api.get(f"{T}/agents/me").json()["isActive"] is True


def test_body_that_is_not_a_json_object_is_400(api):
    assert_error(api.post(f"{ADMIN}/agents", ["not", "an", "object"]), 400)


def test_validation_errors_carry_details_per_field(api):
    body = assert_error(api.post(f"{ADMIN}/agents", {"name": ""}), 400)
    assert "name" in body["details"]


def test_names_with_control_or_bidi_characters_are_400(api):
    for name in ("bad\u202ename", "zero\u200bwidth", "ctrl\x07"):
        assert "name" in assert_error(api.post(f"{ADMIN}/agents", {"name": name}), 400)["details"]


def test_names_are_trimmed_and_nfc_normalised(api):
    data = create_agent(api, name="  Cafe\u0301  ")
    assert data["name"] == "Caf\u00e9"


def test_unknown_api_path_is_404_in_error_shape(api):
    assert_error(api.get(f"{T}/admin/nothing-here"), 404)
    assert_error(api.get(f"{ORGS}/nothing/at/all"), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/admin/api-keys"),
        ("delete", "/admin/agents"),
        ("put", "/admin/api-keys/{key}"),  # PATCH edits a key (issue 12); PUT does not exist
        ("get", "/keys/verify"),
        ("post", "/agents/me"),
        ("get", "/agents/me/rotate"),
        ("put", "/admin/audit-logs"),
    ],
)
def test_unsupported_method_is_405_with_allow_header(api, agent_api, admin_key, method, path):
    client = agent_api if "/agents/me" in path else api
    response = getattr(client, method)(f"{T}{path.format(key=admin_key[0].pk)}")
    assert_error(response, 405)
    assert response.get("Allow")


def test_conflicting_agent_name_is_409_case_insensitively(api, agent):
    assert_error(api.post(f"{ADMIN}/agents", {"name": agent["name"].upper()}), 409)


def test_invalid_transition_is_409(api, admin_key, tenant):
    key, _ = mint_admin_key(tenant, name="victim")
    assert api.post(f"{ADMIN}/api-keys/{key.pk}/revoke").status_code == 200
    for action in ("revoke", "deprecate", "activate", "rotate"):
        assert_error(api.post(f"{ADMIN}/api-keys/{key.pk}/{action}"), 409)


def test_rate_limit_past_the_limit_is_429_with_retry_after(api, make_api):
    minted = api.post(f"{ADMIN}/api-keys", {"name": "slow", "rateLimitPerMinute": 1}).json()
    client = make_api(minted["apiKey"])
    first = client.get(f"{ADMIN}/roles")
    assert first.status_code == 200
    assert first["RateLimit-Limit"] == "1"
    second = client.get(f"{ADMIN}/roles")
    assert_error(second, 429)
    assert second["Retry-After"].isdigit()
    assert_ratelimit_headers(second)


def test_every_authenticated_response_carries_ratelimit_headers(api, agent, agent_api, grant):
    a = f"{ADMIN}/agents/{agent['id']}"
    responses = [
        api.get(f"{ADMIN}/api-keys"),
        api.get(f"{ADMIN}/agents"),
        api.get(a),
        api.get(f"{a}/keys"),
        api.get(f"{a}/grants"),
        api.get(f"{ADMIN}/roles"),
        api.get(f"{ADMIN}/audit-logs"),
        api.post(f"{T}/keys/verify", {"key": "nope"}),
        agent_api.get(f"{T}/agents/me"),
        agent_api.get(f"{T}/agents/me/usage"),
        agent_api.get(f"{T}/agents/me/grants"),
        # errors after authentication too
        api.get(f"{ADMIN}/agents/{uuid.uuid4()}"),
        api.post(f"{ADMIN}/agents", {"name": ""}),
        api.post(f"{ADMIN}/agents", {"name": "x"}, content_type="text/plain"),
        api.delete(f"{ADMIN}/api-keys/not-a-uuid"),
        api.get(f"{ADMIN}/audit-logs", {"limit": 0}),
    ]
    for response in responses:
        assert_ratelimit_headers(response)


def test_404_of_another_tenants_object(api, make_api, other_tenant, tenant):
    _, other_secret = mint_admin_key(other_tenant)
    foreign = make_api(other_secret)
    agent = foreign.post("/t/globex/api/v1/admin/agents", {"name": "Theirs"}).json()
    key_id = agent["keys"][0]["id"]
    for path in (
        f"/admin/agents/{agent['id']}",
        f"/admin/agents/{agent['id']}/keys",
        f"/admin/agents/{agent['id']}/grants",
        f"/admin/api-keys/{key_id}",
    ):
        assert_error(api.get(f"{T}{path}"), 404)
    assert_error(api.delete(f"{ADMIN}/agents/{agent['id']}"), 404)
    assert_error(api.post(f"{ADMIN}/api-keys/{key_id}/revoke"), 404)


def test_bad_uuid_in_path_is_404(api):
    assert_error(api.get(f"{ADMIN}/agents/not-a-uuid"), 404)
    assert_error(api.get(f"{ADMIN}/api-keys/123"), 404)


# --- lists: envelope, limit/cursor, newest first ------------------------------------------


def _walk(api, path, **params):
    """All rows of a list by following nextCursor two at a time."""
    rows, cursor = [], None
    for _ in range(20):
        query = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
        body = assert_list(api.get(path, query))
        assert len(body["data"]) <= 2
        rows += body["data"]
        if not body["hasMore"]:
            assert body["nextCursor"] is None
            return rows
        cursor = body["nextCursor"]
    raise AssertionError("cursor never ended")


def _newest_first(rows, field="createdAt"):
    stamps = [row[field] for row in rows]
    assert stamps == sorted(stamps, reverse=True), stamps


def test_every_list_pages_with_limit_and_cursor_newest_first(api, agent, tenant):
    a = agent["id"]
    for i in range(4):
        create_agent(api, name=f"Bot {i}")
        create_role(api, slug=f"role-{i}")
        api.post(f"{ADMIN}/agents/{a}/keys", {"name": f"k{i}"})
        api.post(f"{ADMIN}/agents/{a}/grants", {"permission": f"read:r{i}"})
    cases = [
        (f"{ADMIN}/agents", "createdAt", 5, assert_agent),
        (f"{ADMIN}/roles", "createdAt", 4, None),
        (f"{ADMIN}/agents/{a}/keys", "createdAt", 5, assert_key),
        (f"{ADMIN}/agents/{a}/grants", "createdAt", 4, None),
        (f"{ADMIN}/api-keys", "createdAt", None, assert_key),
        (f"{ADMIN}/audit-logs", "occurredAt", None, None),
    ]
    for path, field, count, check in cases:
        rows = _walk(api, path)
        if count is not None:
            assert len(rows) == count, path
        assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows), path
        _newest_first(rows, field)
        for row in rows:
            if check:
                check(row)


@pytest.mark.parametrize(
    "path", ["/admin/agents", "/admin/roles", "/admin/api-keys", "/admin/audit-logs"]
)
def test_list_limit_outside_1_to_200_is_400(api, path):
    for limit in (0, 201, "x"):
        assert "limit" in assert_error(api.get(f"{T}{path}", {"limit": limit}), 400)["details"]
    assert_list(api.get(f"{T}{path}", {"limit": 200}))


def test_agent_sublists_validate_limit_and_cursor(api, agent):
    for sub in ("keys", "grants"):
        path = f"{ADMIN}/agents/{agent['id']}/{sub}"
        assert_error(api.get(path, {"limit": 0}), 400)
        assert_error(api.get(path, {"cursor": "garbage!"}), 400)


def test_list_default_limit_is_50(api, tenant):
    for i in range(52):
        mint_admin_key(tenant, name=f"k{i}")
    body = assert_list(api.get(f"{ADMIN}/api-keys"))
    assert len(body["data"]) == 50
    assert body["hasMore"] is True


# --- §5 API keys --------------------------------------------------------------------------


def test_api_key_mint_answers_201_key_with_apikey_and_no_store(api):
    response = api.post(f"{ADMIN}/api-keys", {"name": "ci", "scopes": ["agents:read"]})
    assert response.status_code == 201
    assert_no_store(response)
    data = response.json()
    assert_key(data, secret=True)
    assert data["apiKey"].startswith(data["prefix"]) and data["prefix"].startswith("lmk_")
    assert data["kind"] == "admin" and data["agentId"] is None


def test_api_key_read_has_the_spec_fields_and_no_secret(api, admin_key):
    response = api.get(f"{ADMIN}/api-keys/{admin_key[0].pk}")
    assert response.status_code == 200
    assert_key(response.json())


def test_api_key_list_filters_by_status_kind_and_agent(api, agent, tenant):
    admin_rows = assert_list(api.get(f"{ADMIN}/api-keys", {"kind": "admin"}))["data"]
    assert admin_rows and {r["kind"] for r in admin_rows} == {"admin"}
    rows = assert_list(api.get(f"{ADMIN}/api-keys", {"agentId": agent["id"]}))["data"]
    assert [r["id"] for r in rows] == [agent["keys"][0]["id"]]
    assert assert_list(api.get(f"{ADMIN}/api-keys", {"status": "revoked"}))["data"] == []
    assert_error(api.get(f"{ADMIN}/api-keys", {"status": "bogus"}), 400)


def test_api_key_rotate_answers_201_with_no_store(api, tenant):
    key, _ = mint_admin_key(tenant, name="rot")
    response = api.post(f"{ADMIN}/api-keys/{key.pk}/rotate", {"gracePeriod": 60})
    assert response.status_code == 201
    assert_no_store(response)
    data = response.json()
    assert_key(data, secret=True)
    assert data["rotatedFromId"] == str(key.pk)
    old = api.get(f"{ADMIN}/api-keys/{key.pk}").json()
    assert old["status"] == "deprecated" and old["replacedById"] == data["id"]


def test_api_key_rotate_grace_period_outside_0_to_604800_is_400(api, tenant):
    key, _ = mint_admin_key(tenant, name="rot")
    for grace in (-1, 604801, "soon"):
        response = api.post(f"{ADMIN}/api-keys/{key.pk}/rotate", {"gracePeriod": grace})
        assert "gracePeriod" in assert_error(response, 400)["details"]


def test_api_key_lifecycle_actions_answer_200_with_the_key(api, tenant):
    key, _ = mint_admin_key(tenant, name="life")
    for action, status in (
        ("deprecate", "deprecated"),
        ("activate", "active"),
        ("revoke", "revoked"),
    ):
        response = api.post(f"{ADMIN}/api-keys/{key.pk}/{action}")
        assert response.status_code == 200
        assert_key(response.json())
        assert response.json()["status"] == status


def test_api_key_delete_answers_204_with_empty_body(api, tenant):
    key, _ = mint_admin_key(tenant, name="gone")
    response = api.delete(f"{ADMIN}/api-keys/{key.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get(f"{ADMIN}/api-keys/{key.pk}"), 404)


def test_scoped_key_cannot_mint_a_scope_it_lacks_and_lacking_scope_is_403(make_api, tenant):
    _, secret = mint_admin_key(tenant, name="scoped", scopes=["api_keys:write"])
    client = make_api(secret)
    response = client.post(f"{ADMIN}/api-keys", {"name": "x", "scopes": ["agents:write"]})
    # The body is well formed; what it asks is beyond the caller's rights: 403, not a 400.
    assert_error(response, 403)
    assert not tenant.api_keys.filter(name="x").exists()
    assert_error(client.get(f"{ADMIN}/agents"), 403)


# --- §5 agents ----------------------------------------------------------------------------


def test_agent_create_answers_201_agent_with_apikey_and_no_store(api):
    create_role(api)
    response = api.post(
        f"{ADMIN}/agents",
        {
            "name": "Support Bot",
            "type": "ai_assistant",
            "description": "Answers tickets",
            "roles": ["support-agent"],
            "permissions": ["read:faq"],
            "allowedIps": ["10.0.0.0/8"],
            "expiresIn": 3600,
            "rateLimitPerMinute": 30,
        },
    )
    assert response.status_code == 201
    assert_no_store(response)
    data = response.json()
    assert_agent(data, secret=True)
    assert data["roles"] == ["support-agent"] and data["permissions"] == ["read:faq"]
    assert data["type"] == "ai_assistant" and data["isActive"] is True
    assert data["allowedIps"] == ["10.0.0.0/8"] and data["rateLimitPerMinute"] == 30
    assert len(data["keys"]) == 1
    key = data["keys"][0]
    assert key["kind"] == "agent" and key["agentId"] == data["id"]
    assert data["apiKey"].startswith("sk_agent_live_") and data["apiKey"].startswith(key["prefix"])


def test_agent_type_defaults_to_service(api):
    assert create_agent(api)["type"] == "service"


def test_agent_unknown_role_slug_is_400(api):
    response = api.post(f"{ADMIN}/agents", {"name": "Bot", "roles": ["no-such-role"]})
    assert "roles" in assert_error(response, 400)["details"]


def test_agent_read_has_the_spec_fields(api, agent):
    response = api.get(f"{ADMIN}/agents/{agent['id']}")
    assert response.status_code == 200
    assert_agent(response.json())


def test_agent_list_filters_by_type_and_is_active(api, agent):
    create_agent(api, name="Other", type="bot")
    rows = assert_list(api.get(f"{ADMIN}/agents", {"type": "bot"}), assert_agent)["data"]
    assert [r["name"] for r in rows] == ["Other"]
    api.post(f"{ADMIN}/agents/{agent['id']}/deactivate")
    rows = assert_list(api.get(f"{ADMIN}/agents", {"isActive": "false"}))["data"]
    assert [r["id"] for r in rows] == [agent["id"]]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_agent_put_and_patch_update_only_the_given_fields(api, agent, method):
    response = getattr(api, method)(f"{ADMIN}/agents/{agent['id']}", {"description": "new"})
    assert response.status_code == 200
    data = response.json()
    assert_agent(data)
    assert data["description"] == "new"
    assert data["name"] == agent["name"] and data["type"] == agent["type"]


def test_agent_delete_answers_204_empty_and_its_keys_stop_working(api, agent, agent_api):
    response = api.delete(f"{ADMIN}/agents/{agent['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get(f"{ADMIN}/agents/{agent['id']}"), 404)
    assert_error(agent_api.get(f"{T}/agents/me"), 401)


def test_agent_rotate_key_answers_201_key_with_no_store(api, agent):
    response = api.post(f"{ADMIN}/agents/{agent['id']}/rotate-key", {})
    assert response.status_code == 201
    assert_no_store(response)
    data = response.json()
    assert_key(data, secret=True)
    assert data["agentId"] == agent["id"] and data["rotatedFromId"] == agent["keys"][0]["id"]


def test_agent_rotate_key_of_another_agents_key_is_404(api, agent):
    other = create_agent(api, name="Other")
    response = api.post(
        f"{ADMIN}/agents/{agent['id']}/rotate-key", {"keyId": other["keys"][0]["id"]}
    )
    assert_error(response, 404)


def test_agent_keys_post_answers_201_key_with_no_store(api, agent):
    response = api.post(f"{ADMIN}/agents/{agent['id']}/keys", {"name": "second", "expiresIn": 60})
    assert response.status_code == 201
    assert_no_store(response)
    data = response.json()
    assert_key(data, secret=True)
    assert data["kind"] == "agent" and data["agentId"] == agent["id"]


def test_grants_post_201_list_200_delete_204(api, agent, grant):
    assert set(grant) >= {"id", "permission", "expiresAt", "reason", "createdAt"}
    assert_formats(grant)
    path = f"{ADMIN}/agents/{agent['id']}/grants"
    assert [g["id"] for g in assert_list(api.get(path))["data"]] == [grant["id"]]
    response = api.delete(f"{path}/{grant['id']}")
    assert response.status_code == 204
    assert response.content == b""


def test_grant_with_bad_permission_is_400(api, agent):
    response = api.post(f"{ADMIN}/agents/{agent['id']}/grants", {"permission": "Not A Perm"})
    assert "permission" in assert_error(response, 400)["details"]


# --- §5 roles -----------------------------------------------------------------------------


def test_role_create_read_and_shape(api):
    role = create_role(api)
    assert set(role) >= ROLE_FIELDS
    assert_formats(role)
    response = api.get(f"{ADMIN}/roles/support-agent")
    assert response.status_code == 200 and response.json()["slug"] == "support-agent"


def test_role_duplicate_slug_is_409(api):
    create_role(api)
    assert_error(
        api.post(f"{ADMIN}/roles", {"slug": "support-agent", "name": "Again"}),
        409,
    )


@pytest.mark.parametrize("method", ["put", "patch"])
def test_role_put_and_patch_update_the_given_fields(api, method):
    create_role(api)
    response = getattr(api, method)(
        f"{ADMIN}/roles/support-agent", {"permissions": ["read:faq", "write:faq"]}
    )
    assert response.status_code == 200
    assert response.json()["permissions"] == ["read:faq", "write:faq"]
    assert response.json()["name"] == "Support-Agent"


def test_role_delete_answers_204_empty(api):
    create_role(api)
    response = api.delete(f"{ADMIN}/roles/support-agent")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api.get(f"{ADMIN}/roles/support-agent"), 404)


# --- §5 audit -----------------------------------------------------------------------------


def test_audit_event_shape_and_dotted_actions(api, agent):
    body = assert_list(api.get(f"{ADMIN}/audit-logs"))
    events = body["data"]
    assert events
    for event in events:
        assert set(event) == EVENT_FIELDS
        assert set(event["actor"]) == {"type", "id", "name"}
        assert event["target"] is None or set(event["target"]) == {"type", "id", "name"}
        assert re.match(r"^[a-z_]+\.[a-z_]+$", event["action"])
        assert isinstance(event["metadata"], dict)
    assert "agent.created" in {e["action"] for e in events}
    filtered = assert_list(api.get(f"{ADMIN}/audit-logs", {"action": "agent.created"}))["data"]
    assert {e["action"] for e in filtered} == {"agent.created"}
    by_target = assert_list(api.get(f"{ADMIN}/audit-logs", {"targetId": agent["id"]}))["data"]
    assert by_target and all(e["target"]["id"] == agent["id"] for e in by_target)


def test_audit_events_never_contain_a_secret(api, agent):
    text = api.get(f"{ADMIN}/audit-logs", {"limit": 200}).content.decode()
    assert agent["apiKey"] not in text
    secret_part = agent["apiKey"][len(agent["keys"][0]["prefix"]) :]
    assert secret_part[:20] not in text


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_audit_export_streams_csv_or_jsonl(api, agent, fmt):
    response = api.get(f"{ADMIN}/audit-logs/export", {"format": fmt})
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    assert "agent.created" in text
    if fmt == "jsonl":
        assert set(json.loads(text.splitlines()[0])) == EVENT_FIELDS


def test_audit_export_unknown_format_is_400(api):
    assert_error(api.get(f"{ADMIN}/audit-logs/export", {"format": "xml"}), 400)


def test_audit_since_after_until_or_bad_timestamp_is_400(api):
    assert_error(api.get(f"{ADMIN}/audit-logs", {"since": "yesterday"}), 400)


# --- §6 agent runtime API -----------------------------------------------------------------


def test_agents_me_is_the_calling_agent_with_keys_and_no_secret(agent_api, agent):
    response = agent_api.get(f"{T}/agents/me")
    assert response.status_code == 200
    data = response.json()
    assert_agent(data)
    assert data["id"] == agent["id"]
    assert agent["apiKey"] not in response.content.decode()


def test_agents_me_usage_shape(agent_api, agent):
    agent_api.get(f"{T}/agents/me")
    response = agent_api.get(f"{T}/agents/me/usage")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"total", "byKey", "daily"}
    assert isinstance(data["total"], int)
    for row in data["byKey"]:
        assert set(row) == {"keyId", "prefix", "count"}
        uuid.UUID(row["keyId"])
    for row in data["daily"]:
        assert set(row) == {"date", "count"}
        assert re.match(r"^\d{4}-\d\d-\d\d$", row["date"])
    assert len(data["daily"]) <= 31


def test_agents_me_grants_is_the_merged_access_set_with_sources(api, make_api):
    create_role(api, permissions=("read:reports",))
    agent = create_agent(api, roles=["support-agent"], permissions=["read:faq"])
    grant = api.post(
        f"{ADMIN}/agents/{agent['id']}/grants", {"permission": "write:tickets", "expiresIn": 60}
    ).json()
    response = make_api(agent["apiKey"]).get(f"{T}/agents/me/grants")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    for row in body["data"]:
        assert set(row) == {"permission", "source", "expiresAt"}
        assert_formats(row)
    sources = {(r["permission"], r["source"]) for r in body["data"]}
    assert ("read:reports", "role:support-agent") in sources
    assert ("read:faq", "direct") in sources
    assert ("write:tickets", f"grant:{grant['id']}") in sources


def test_agents_me_rotate_answers_201_with_apikey_and_no_store(agent_api, agent, make_api):
    response = agent_api.post(f"{T}/agents/me/rotate", {"gracePeriod": 0})
    assert response.status_code == 201
    assert_no_store(response)
    data = response.json()
    assert_key(data, secret=True)
    assert_error(agent_api.get(f"{T}/agents/me"), 401)
    assert make_api(data["apiKey"]).get(f"{T}/agents/me").status_code == 200


def test_agents_me_deactivate_stops_all_its_keys(agent_api, api, agent):
    second = api.post(f"{ADMIN}/agents/{agent['id']}/keys", {"name": "second"}).json()
    response = agent_api.post(f"{T}/agents/me/deactivate")
    assert response.status_code == 200
    assert response.json()["isActive"] is False
    assert_error(agent_api.get(f"{T}/agents/me"), 401)
    from tests.conftest import ApiClient

    assert_error(ApiClient(second["apiKey"]).get(f"{T}/agents/me"), 401)


# --- §6a key verification -----------------------------------------------------------------


def test_verify_valid_agent_key_answers_the_spec_shape(api, agent):
    response = api.post(f"{T}/keys/verify", {"key": agent["apiKey"]})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == VERIFY_FIELDS
    assert data["valid"] is True and data["code"] == "VALID"
    assert data["keyId"] == agent["keys"][0]["id"] and data["agentId"] == agent["id"]
    assert data["agent"] == {"id": agent["id"], "name": agent["name"], "type": agent["type"]}
    assert data["deprecated"] is False
    assert_formats(data)


@pytest.mark.parametrize(
    ("setup", "body", "code"),
    [
        ("none", {"key": "sk_agent_live_garbage"}, "NOT_FOUND"),
        ("revoke", {}, "REVOKED"),
        ("deactivate", {}, "DISABLED"),
        ("ip", {"ip": "192.0.2.1"}, "IP_NOT_ALLOWED"),
        ("none", {"permission": "delete:everything"}, "INSUFFICIENT_PERMISSIONS"),
    ],
)
def test_verify_codes(api, setup, body, code):
    agent = create_agent(api, name="V", allowedIps=["10.0.0.0/8"])
    key_id = agent["keys"][0]["id"]
    if setup == "revoke":
        api.post(f"{ADMIN}/api-keys/{key_id}/revoke")
    elif setup == "deactivate":
        api.post(f"{ADMIN}/agents/{agent['id']}/deactivate")
    response = api.post(f"{T}/keys/verify", {"key": agent["apiKey"], **body})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == VERIFY_FIELDS
    assert data["code"] == code and data["valid"] is False


def test_verify_expired_key_is_expired(api, agent, tenant):
    from datetime import timedelta

    from django.utils import timezone

    tenant.api_keys.filter(pk=agent["keys"][0]["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert api.post(f"{T}/keys/verify", {"key": agent["apiKey"]}).json()["code"] == "EXPIRED"


def test_verify_rate_limited_key_is_rate_limited(api):
    agent = create_agent(api, name="Limited", rateLimitPerMinute=1)
    first = api.post(f"{T}/keys/verify", {"key": agent["apiKey"]}).json()
    second = api.post(f"{T}/keys/verify", {"key": agent["apiKey"]}).json()
    assert first["code"] == "VALID"
    assert second["code"] == "RATE_LIMITED" and second["valid"] is False


def test_verify_key_of_another_tenant_is_not_found(api, make_api, other_tenant, tenant):
    _, other_secret = mint_admin_key(other_tenant)
    theirs = make_api(other_secret).post("/t/globex/api/v1/admin/agents", {"name": "T"}).json()
    data = api.post(f"{T}/keys/verify", {"key": theirs["apiKey"]}).json()
    assert data["code"] == "NOT_FOUND" and data["keyId"] is None and data["agent"] is None


def test_verify_needs_keys_verify_scope(make_api, tenant):
    _, without = mint_admin_key(tenant, name="no-verify", scopes=["agents:read"])
    assert_error(make_api(without).post(f"{T}/keys/verify", {"key": "x"}), 403)
    _, with_scope = mint_admin_key(tenant, name="verify", scopes=["keys:verify"])
    assert make_api(with_scope).post(f"{T}/keys/verify", {"key": "x"}).status_code == 200


def test_verify_with_an_agent_key_as_caller_is_403(agent_api, agent):
    assert_error(agent_api.post(f"{T}/keys/verify", {"key": agent["apiKey"]}), 403)


def test_verify_counts_as_a_use_of_the_verified_key(api, agent):
    from apikeys import usage

    api.post(f"{T}/keys/verify", {"key": agent["apiKey"], "ip": "10.1.2.3"})
    usage.flush()
    key = api.get(f"{ADMIN}/api-keys/{agent['keys'][0]['id']}").json()
    assert key["lastUsedAt"] is not None and key["lastUsedIp"] == "10.1.2.3"


def test_verify_missing_key_field_is_400(api):
    assert "key" in assert_error(api.post(f"{T}/keys/verify", {}), 400)["details"]


# --- healthz ------------------------------------------------------------------------------


def test_healthz_answers_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_query_filters_with_bad_values_are_400(api):
    for path, params in (
        ("/admin/agents", {"isActive": "maybe"}),
        ("/admin/agents", {"type": "robot"}),
        ("/admin/api-keys", {"kind": "robot"}),
        ("/admin/api-keys", {"agentId": "not-a-uuid"}),
        ("/admin/audit-logs", {"until": "tomorrow"}),
    ):
        name = next(iter(params))
        assert name in assert_error(api.get(f"{T}{path}", params), 400)["details"], params


def test_session_on_json_api_needs_csrf_for_unsafe_methods(admin):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert_list(client.get(f"{ADMIN}/agents"))
    response = client.post(
        f"{ADMIN}/agents", json.dumps({"name": "S"}), content_type="application/json"
    )
    assert_error(response, 403)
    assert assert_list(client.get(f"{ADMIN}/agents"))["data"] == []


def test_viewer_session_may_read_but_not_write_the_json_api(viewer_client):
    assert_list(viewer_client.get(f"{ADMIN}/agents"))
    response = viewer_client.post(
        f"{ADMIN}/agents", json.dumps({"name": "S"}), content_type="application/json"
    )
    assert_error(response, 403)


def test_deprecated_key_headers_ride_on_its_error_responses_too(api, make_api):
    minted = api.post(f"{ADMIN}/api-keys", {"name": "old"}).json()
    api.post(f"{ADMIN}/api-keys/{minted['id']}/deprecate")
    response = make_api(minted["apiKey"]).get(f"{ADMIN}/agents/{uuid.uuid4()}")
    assert_error(response, 404)
    assert response["Deprecation"].startswith("@")
    assert "Sunset" not in response
    assert_ratelimit_headers(response)


def _parse(stamp):
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_rotate_keeps_name_scopes_limits_and_lifetime_counted_from_now(api):
    minted = api.post(
        f"{ADMIN}/api-keys",
        {
            "name": "ci",
            "scopes": ["agents:read"],
            "expiresIn": 3600,
            "rateLimitPerMinute": 7,
            "allowedIps": ["10.0.0.0/8"],
        },
    ).json()
    new = api.post(f"{ADMIN}/api-keys/{minted['id']}/rotate", {"gracePeriod": 120}).json()
    for field in ("name", "scopes", "rateLimitPerMinute", "allowedIps", "kind", "agentId"):
        assert new[field] == minted[field], field
    lifetime = (_parse(new["expiresAt"]) - _parse(new["createdAt"])).total_seconds()
    assert abs(lifetime - 3600) < 5
    old = api.get(f"{ADMIN}/api-keys/{minted['id']}").json()
    grace = (_parse(old["expiresAt"]) - _parse(new["createdAt"])).total_seconds()
    assert old["status"] == "deprecated" and abs(grace - 120) < 5


def test_rotate_without_grace_revokes_the_old_key_now(api, make_api):
    minted = api.post(f"{ADMIN}/api-keys", {"name": "ci"}).json()
    new = api.post(f"{ADMIN}/api-keys/{minted['id']}/rotate").json()
    assert new["expiresAt"] is None
    assert api.get(f"{ADMIN}/api-keys/{minted['id']}").json()["status"] == "revoked"
    assert_error(make_api(minted["apiKey"]).get(f"{ADMIN}/roles"), 401)


def test_expired_key_stops_authenticating_whatever_its_status(api, make_api, tenant):
    from datetime import timedelta

    from django.utils import timezone

    minted = api.post(f"{ADMIN}/api-keys", {"name": "short"}).json()
    tenant.api_keys.filter(pk=minted["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(make_api(minted["apiKey"]).get(f"{ADMIN}/roles"), 401)
    assert_error(api.post(f"{ADMIN}/api-keys/{minted['id']}/deprecate"), 409)


def test_inactive_agent_keys_are_401_and_rejections_are_audited(api, agent, agent_api):
    api.post(f"{ADMIN}/agents/{agent['id']}/deactivate")
    assert_error(agent_api.get(f"{T}/agents/me"), 401)
    events = api.get(f"{ADMIN}/audit-logs", {"action": "api_key.rejected"}).json()["data"]
    assert events and events[0]["target"]["id"] == agent["keys"][0]["id"]
    assert agent["apiKey"] not in json.dumps(events)


def test_source_ip_outside_the_allowlist_is_403(api, make_api):
    agent = create_agent(api, name="Fenced", allowedIps=["10.0.0.0/8"])
    response = make_api(agent["apiKey"]).get(f"{T}/agents/me", REMOTE_ADDR="192.0.2.9")
    assert_error(response, 403)
    inside = make_api(agent["apiKey"]).get(f"{T}/agents/me", REMOTE_ADDR="10.1.2.3")
    assert inside.status_code == 200


def test_405_on_a_grant_names_the_methods_that_path_takes(api, agent, grant):
    path = f"{ADMIN}/agents/{agent['id']}/grants/{grant['id']}"
    for method in ("post", "put", "patch"):
        response = getattr(api, method)(path)
        assert_error(response, 405)
        assert set(response["Allow"].split(", ")) == {"GET", "HEAD", "DELETE"}
    assert api.get(path).status_code == 200
