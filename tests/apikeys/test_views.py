"""The keys page and the key endpoints, each four ways: full page, HTMX fragment, JSON (under
both /t/ and the /orgs/ alias), and from another tenant (404)."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from access.actor import Actor
from apikeys import services
from apikeys.models import ApiKey
from tests.conftest import HTMX, mint_admin_key
from tests.spec import KEY_FIELDS

PAGE = "/t/acme-corp/portal/settings/api-keys"
API = "/t/acme-corp/api/v1/admin/api-keys"
ORGS = "/orgs/acme-corp/api/v1/admin/api-keys"

pytestmark = pytest.mark.django_db


def is_full_page(response):
    return b"<html" in response.content and b'id="key-table"' in response.content


def is_fragment(response):
    return b"<html" not in response.content and b"<body" not in response.content


def rows(response):
    """The key prefixes in the table, in order."""
    return re.findall(r'data-key-prefix="([^"]+)"', response.content.decode())


@pytest.fixture
def key(tenant):
    return mint_admin_key(tenant, name="deploy-bot", scopes=["agents:read"])[0]


@pytest.fixture
def foreign_key(other_tenant):
    return mint_admin_key(other_tenant, name="globex-ci")[0]


# --- GET /api-keys ---------------------------------------------------------------------------


def test_keys_page_lists_the_tenants_keys_with_their_details(owner_client, key):
    response = owner_client.get(PAGE)
    assert response.status_code == 200
    assert is_full_page(response)
    html = response.content.decode()
    assert rows(response) == [key.prefix]
    assert "deploy-bot" in html
    assert "agents:read" in html
    assert 'class="status status-active">active<' in html
    assert "by tests (system)" in html
    assert "never" in html  # last used / expiry


def test_keys_table_fragment_for_htmx(owner_client, key):
    response = owner_client.get(PAGE, headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    assert response.content.decode().lstrip().startswith('<div id="key-table"')
    assert rows(response) == [key.prefix]
    assert "Vary" in response and "HX-Request" in response["Vary"]


@pytest.mark.parametrize("url", [API, ORGS])
def test_list_keys_as_json(api, admin_key, key, url):
    response = api.get(url)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "hasMore", "nextCursor"}
    assert [k["prefix"] for k in body["data"]] == [key.prefix, admin_key[0].prefix]
    first = body["data"][0]
    assert first["name"] == "deploy-bot"
    assert first["kind"] == "admin"
    assert first["scopes"] == ["agents:read"]
    assert first["createdBy"] == {"type": "system", "id": None, "name": "tests"}


def test_list_keys_never_shows_another_tenants_keys(api, foreign_key, owner_client):
    assert foreign_key.prefix not in api.get(API).content.decode()
    assert foreign_key.prefix not in owner_client.get(PAGE).content.decode()


def test_keys_page_is_404_for_a_member_of_another_tenant(outsider_client, tenant):
    assert outsider_client.get(PAGE).status_code == 404
    assert outsider_client.get(PAGE, headers=HTMX).status_code == 404
    response = outsider_client.get(API)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_key_of_another_tenant_cannot_list_this_tenants_keys(make_api, tenant, foreign_key):
    _, secret = mint_admin_key(foreign_key.tenant, name="other")
    response = make_api(secret).get(API)
    assert response.status_code == 401


def test_anonymous_visitor_is_sent_to_the_login_page(client, tenant):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


def test_anonymous_htmx_request_is_redirected_by_htmx(client, tenant):
    response = client.get(PAGE, headers=HTMX)
    assert response["HX-Redirect"].startswith("/login?next=")


def test_anonymous_api_request_is_401(anon_api, tenant):
    response = anon_api.get(API)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- filters and pages -----------------------------------------------------------------------


@pytest.fixture
def mixed_keys(tenant):
    """One key of each status the table shows: active, deprecated, revoked, expired."""
    actor = Actor.system("tests")
    active = mint_admin_key(tenant, name="k-active")[0]
    deprecated = services.deprecate_key(tenant, actor, mint_admin_key(tenant, name="k-dep")[0])
    revoked = services.revoke_key(tenant, actor, mint_admin_key(tenant, name="k-rev")[0])
    expired = mint_admin_key(tenant, name="k-exp")[0]
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    return {"active": active, "deprecated": deprecated, "revoked": revoked, "expired": expired}


@pytest.mark.parametrize("status", ["active", "deprecated", "revoked", "expired"])
def test_status_filter_on_page_fragment_and_json(owner_client, api, mixed_keys, status):
    wanted = [mixed_keys[status].prefix]
    # The `api` fixture's own key is active too.
    if status == "active":
        wanted.append(ApiKey.objects.get(name="automation").prefix)
    page = owner_client.get(PAGE, {"status": status})
    assert sorted(rows(page)) == sorted(wanted)
    assert f'<option value="{status}" selected>' in page.content.decode()
    fragment = owner_client.get(PAGE, {"status": status}, headers=HTMX)
    assert sorted(rows(fragment)) == sorted(wanted)
    data = api.get(API, {"status": status}).json()["data"]
    assert sorted(k["prefix"] for k in data) == sorted(wanted)


def test_expired_key_shows_as_expired_but_keeps_its_status_in_json(api, mixed_keys):
    expired = mixed_keys["expired"]
    assert api.get(f"{API}/{expired.pk}").json()["status"] == "active"


def test_kind_and_agent_filters(owner_client, api, tenant):
    from agents.models import Agent

    agent = Agent.objects.create(tenant=tenant, name="reporter")
    agent_key, _ = services.mint_key(tenant, Actor.system("tests"), name="rk", agent=agent)
    admin = mint_admin_key(tenant, name="adm")[0]
    assert rows(owner_client.get(PAGE, {"kind": "agent"})) == [agent_key.prefix]
    assert admin.prefix in rows(owner_client.get(PAGE, {"kind": "admin"}))
    data = api.get(API, {"agentId": str(agent.pk)}).json()["data"]
    assert [(k["prefix"], k["kind"], k["agentId"]) for k in data] == [
        (agent_key.prefix, "agent", str(agent.pk))
    ]
    assert "agent reporter" in owner_client.get(PAGE).content.decode()


@pytest.mark.parametrize("query", [{"status": "bogus"}, {"kind": "robot"}, {"agentId": "x"}])
def test_bad_filter_values_are_400(api, owner_client, query):
    response = api.get(API, query)
    assert response.status_code == 400
    assert list(response.json()["details"]) == list(query)
    assert owner_client.get(PAGE, query).status_code == 400


def test_next_page_link_walks_the_table_with_the_cursor(owner_client, tenant):
    made = [mint_admin_key(tenant, name=f"k{i}")[0].prefix for i in range(3)]
    first = owner_client.get(PAGE, {"limit": 2})
    assert rows(first) == made[::-1][:2]
    link = re.search(r'href="([^"]*cursor=[^"]*)"[^>]*rel="next"', first.content.decode())
    assert link, "a Next page link"
    second = owner_client.get(link.group(1).replace("&amp;", "&"), headers=HTMX)
    assert rows(second) == made[::-1][2:]
    assert "First page" in second.content.decode()
    assert 'rel="next"' not in second.content.decode()


def test_next_page_link_keeps_the_filters(owner_client, tenant):
    for i in range(3):
        mint_admin_key(tenant, name=f"k{i}")
    html = owner_client.get(PAGE, {"status": "active", "limit": 1}).content.decode()
    link = re.search(r'href="([^"]*cursor=[^"]*)"', html).group(1)
    assert "status=active" in link


def test_filter_form_is_a_get_form_that_htmx_enhances(owner_client, tenant):
    html = owner_client.get(PAGE).content.decode()
    form = re.search(r'<form class="filters"[^>]*>', html).group(0)
    assert 'method="get"' in form
    assert 'hx-get="/t/acme-corp/portal/settings/api-keys"' in form
    assert 'hx-target="#key-table"' in form
    assert 'hx-push-url="true"' in form


# --- POST /api-keys (mint) -------------------------------------------------------------------


def test_minting_without_javascript_shows_the_key_once_on_the_full_page(owner_client, tenant):
    response = owner_client.post(
        PAGE, {"name": "ci", "scopes": ["api_keys:read", "audit:read"], "expiresIn": "2592000"}
    )
    assert response.status_code == 201
    assert is_full_page(response)
    key = tenant.api_keys.get(name="ci")
    html = response.content.decode()
    secret = re.search(r'id="minted-key" type="text" value="([^"]+)"', html).group(1)
    assert secret.startswith(key.prefix)
    assert "You won't be able to see this key again" in html
    assert 'data-copy-target="minted-key"' in html
    assert "data-dismiss" in html
    assert response["Cache-Control"] == "no-store"
    assert key.scopes == ["api_keys:read", "audit:read"]
    assert abs((key.expires_at - key.created_at) - dt.timedelta(days=30)) < dt.timedelta(seconds=5)
    assert key.created_by_name == "owner@acme.test"
    # Reloading the page never shows it again.
    assert secret not in owner_client.get(PAGE).content.decode()


def test_minting_with_htmx_returns_the_panel_and_refreshes_the_table(owner_client, tenant):
    response = owner_client.post(PAGE, {"name": "ci"}, headers=HTMX)
    assert response.status_code == 201
    assert is_fragment(response)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="minted"')
    assert 'class="secret-panel"' in html
    assert '<div id="key-table" hx-swap-oob="true">' in html
    assert '<div id="flash" aria-live="polite" hx-swap-oob="true">' in html
    key = tenant.api_keys.get(name="ci")
    assert rows(response) == [key.prefix]
    assert response["Cache-Control"] == "no-store"
    assert tenant.api_keys.get(name="ci").scopes == []


def test_mint_form_offers_full_admin_explicitly_and_the_expiries(owner_client, tenant):
    html = owner_client.get(PAGE).content.decode()
    assert "Full admin (every scope)" in html
    for value in ("", "2592000", "7776000", "31536000"):
        assert f'<option value="{value}"' in html
    for scope in services.ADMIN_SCOPES:
        assert f'name="scopes" value="{scope}"' in html


@pytest.mark.parametrize("url", [API, ORGS])
def test_minting_as_json(api, tenant, url):
    response = api.post(url, {"name": "ci", "scopes": ["agents:read"], "expiresIn": 3600})
    assert response.status_code == 201
    body = response.json()
    key = tenant.api_keys.get(pk=body["id"])
    assert body["apiKey"].startswith(body["prefix"]) and body["prefix"] == key.prefix
    assert body["status"] == "active"
    assert body["createdBy"]["type"] == "api_key"
    assert response["Cache-Control"] == "no-store"


def test_minting_as_a_member_of_another_tenant_is_404(outsider_client, tenant):
    response = outsider_client.post(PAGE, {"name": "ci"})
    assert response.status_code == 404
    assert not tenant.api_keys.exists()


def test_invalid_mint_form_without_javascript_shows_the_page_with_messages(owner_client, tenant):
    response = owner_client.post(PAGE, {"name": "", "scopes": ["agents:read"]})
    assert response.status_code == 400
    html = response.content.decode()
    assert is_full_page(response)
    assert "This field is required." in html
    assert 'value="agents:read" checked' in html
    assert not tenant.api_keys.exists()


def test_invalid_mint_with_htmx_shows_the_error_in_flash(owner_client, tenant):
    response = owner_client.post(PAGE, {"name": "x" * 101}, headers=HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
    assert "At most 100 characters" in response.content.decode()


# --- GET /api-keys/<id> ----------------------------------------------------------------------


def test_key_page_shows_one_key(owner_client, key):
    response = owner_client.get(f"{PAGE}/{key.pk}")
    assert response.status_code == 200
    assert b"<html" in response.content
    assert key.prefix in response.content.decode()
    assert "agents:read" in response.content.decode()


def test_key_page_fragment(owner_client, key):
    response = owner_client.get(f"{PAGE}/{key.pk}", headers=HTMX)
    assert is_fragment(response)
    assert response.content.decode().lstrip().startswith('<section id="key-detail"')


@pytest.mark.parametrize("url", [API, ORGS])
def test_read_one_key_as_json(api, key, url):
    response = api.get(f"{url}/{key.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(key.pk)
    assert "apiKey" not in body
    assert set(body) == KEY_FIELDS


def test_key_of_another_tenant_is_404_everywhere(api, owner_client, foreign_key):
    assert api.get(f"{API}/{foreign_key.pk}").status_code == 404
    assert api.get(f"{ORGS}/{foreign_key.pk}").status_code == 404
    assert owner_client.get(f"{PAGE}/{foreign_key.pk}").status_code == 404
    assert owner_client.get(f"{PAGE}/{foreign_key.pk}", headers=HTMX).status_code == 404


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_key_id_is_404(api, bad_id):
    response = api.get(f"{API}/{bad_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "Not found.", "status": 404}


# --- POST /api-keys/<id>/rotate --------------------------------------------------------------


def test_rotating_without_javascript_shows_the_new_key_on_the_full_page(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}/rotate", {"gracePeriod": "3600"})
    assert response.status_code == 201
    assert is_full_page(response)
    new = ApiKey.objects.get(rotated_from=key)
    html = response.content.decode()
    assert re.search(rf'id="minted-key" type="text" value="{new.prefix}\w+"', html)
    assert "keeps working until" in html
    assert response["Cache-Control"] == "no-store"


def test_rotating_with_htmx_shows_the_panel_and_both_rows(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}/rotate", {"gracePeriod": "3600"}, headers=HTMX)
    assert response.status_code == 201
    assert is_fragment(response)
    html = response.content.decode()
    new = ApiKey.objects.get(rotated_from=key)
    assert 'class="secret-panel"' in html
    assert rows(response) == [new.prefix, key.prefix]
    assert re.search(r"status-deprecated\">deprecated</span>, expires <time", html)


@pytest.mark.parametrize("url", [API, ORGS])
def test_rotating_as_json(api, key, url):
    response = api.post(f"{url}/{key.pk}/rotate", {"gracePeriod": 0})
    assert response.status_code == 201
    body = response.json()
    assert body["rotatedFromId"] == str(key.pk)
    assert body["apiKey"].startswith(body["prefix"])
    assert response["Cache-Control"] == "no-store"


def test_rotating_a_key_of_another_tenant_is_404(api, owner_client, foreign_key):
    assert api.post(f"{API}/{foreign_key.pk}/rotate").status_code == 404
    assert owner_client.post(f"{PAGE}/{foreign_key.pk}/rotate").status_code == 404
    assert not ApiKey.objects.filter(rotated_from=foreign_key).exists()


def test_rotate_offers_the_four_grace_periods(owner_client, key):
    html = owner_client.get(PAGE).content.decode()
    for value, label in [("0", "Immediately"), ("3600", "1 hour"), ("604800", "7 days")]:
        assert f'<option value="{value}">{label}</option>' in html
    # The form starts on a grace period: one click must not cut every client off at once.
    assert '<option value="86400" selected>24 hours</option>' in html


# --- deprecate / activate / revoke / delete --------------------------------------------------


ACTION_CASES = [
    ("deprecate", {}, "deprecated"),
    ("revoke", {"reason": "leaked in a log"}, "revoked"),
]


@pytest.mark.parametrize("action,form,status", ACTION_CASES)
def test_action_without_javascript_redirects_back_with_a_message(
    owner_client, key, action, form, status
):
    response = owner_client.post(f"{PAGE}/{key.pk}/{action}", form)
    assert response.status_code == 303
    assert response["Location"] == PAGE
    key.refresh_from_db()
    assert key.status == status
    follow = owner_client.get(PAGE)
    assert f"Key “deploy-bot” ({key.prefix}) {status}." in follow.content.decode()
    # A message is shown once.
    assert "deploy-bot” (" not in owner_client.get(PAGE).content.decode()


@pytest.mark.parametrize("action,form,status", ACTION_CASES)
def test_action_with_htmx_updates_the_table_in_place_with_a_flash(
    owner_client, key, action, form, status
):
    response = owner_client.post(f"{PAGE}/{key.pk}/{action}", form, headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="key-table"')
    assert f'class="status status-{status}">{status}<' in html
    flash = re.search(r'<div id="flash"[^>]*hx-swap-oob="true">(.*?)</div>', html, re.S)
    assert f"({key.prefix}) {status}." in flash.group(1)


def test_action_keeps_the_tables_filters(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}/deprecate?status=active", {})
    assert response["Location"] == f"{PAGE}?status=active"
    html = owner_client.get(PAGE, {"status": "active"}).content.decode()
    assert f"{PAGE}/{key.pk}/revoke?status=active" not in html  # it is deprecated now
    response = owner_client.post(f"{PAGE}/{key.pk}/activate?status=active", {}, headers=HTMX)
    assert rows(response) == [key.prefix]


@pytest.mark.parametrize(
    "action,body,status",
    [("deprecate", None, "deprecated"), ("revoke", {"reason": "rotated by hand"}, "revoked")],
)
@pytest.mark.parametrize("url", [API, ORGS])
def test_action_as_json(api, key, url, action, body, status):
    response = api.post(f"{url}/{key.pk}/{action}", body)
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert response.json()["id"] == str(key.pk)


def test_activate_four_ways(api, owner_client, key, other_tenant):
    actor = Actor.system("tests")
    services.deprecate_key(key.tenant, actor, key)
    assert owner_client.post(f"{PAGE}/{key.pk}/activate").status_code == 303
    services.deprecate_key(key.tenant, actor, key)
    fragment = owner_client.post(f"{PAGE}/{key.pk}/activate", headers=HTMX)
    assert 'class="status status-active">active<' in fragment.content.decode()
    services.deprecate_key(key.tenant, actor, key)
    body = api.post(f"{ORGS}/{key.pk}/activate").json()
    assert (body["status"], body["deprecatedAt"]) == ("active", None)
    foreign = mint_admin_key(other_tenant)[0]
    services.deprecate_key(other_tenant, actor, foreign)
    assert api.post(f"{API}/{foreign.pk}/activate").status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == "deprecated"


@pytest.mark.parametrize("action", ["deprecate", "activate", "revoke", "delete"])
def test_actions_on_another_tenants_key_are_404(api, owner_client, foreign_key, action):
    assert owner_client.post(f"{PAGE}/{foreign_key.pk}/{action}").status_code == 404
    assert owner_client.post(f"{PAGE}/{foreign_key.pk}/{action}", headers=HTMX).status_code == 404
    if action != "delete":
        assert api.post(f"{API}/{foreign_key.pk}/{action}").status_code == 404
    foreign_key.refresh_from_db()
    assert foreign_key.status == "active"


def test_delete_without_javascript(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}/delete")
    assert response.status_code == 303
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert "deleted." in owner_client.get(PAGE).content.decode()


def test_delete_with_htmx(owner_client, key):
    response = owner_client.post(f"{PAGE}/{key.pk}/delete", headers=HTMX)
    assert response.status_code == 200
    assert rows(response) == []
    assert "No API keys yet." in response.content.decode()


@pytest.mark.parametrize("url", [API, ORGS])
def test_delete_as_json(api, key, url):
    response = api.delete(f"{url}/{key.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert api.get(f"{url}/{key.pk}").status_code == 404


def test_deleted_key_stops_working(make_api, tenant, api, key):
    _, secret = mint_admin_key(tenant, name="doomed")
    doomed = make_api(secret)
    assert doomed.get(API).status_code == 200
    api.delete(f"{API}/{tenant.api_keys.get(name='doomed').pk}")
    assert doomed.get(API).status_code == 401


def test_delete_of_another_tenants_key_is_404(api, foreign_key):
    assert api.delete(f"{API}/{foreign_key.pk}").status_code == 404
    assert ApiKey.objects.filter(pk=foreign_key.pk).exists()


def test_delete_is_not_a_post_action_on_the_api(api, key):
    assert api.post(f"{API}/{key.pk}/delete").status_code == 404
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_unknown_action_is_404(api, owner_client, key):
    assert api.post(f"{API}/{key.pk}/explode").json()["error"] == "not_found"
    assert owner_client.post(f"{PAGE}/{key.pk}/explode").status_code == 404


def test_get_on_an_action_is_405_with_allow(api, key):
    response = api.get(f"{API}/{key.pk}/rotate")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"


def test_action_conflict_with_htmx_goes_to_flash(owner_client, key):
    services.revoke_key(key.tenant, Actor.system("tests"), key)
    response = owner_client.post(f"{PAGE}/{key.pk}/deprecate", headers=HTMX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#flash"
    assert "Only an active key can be deprecated" in response.content.decode()


# --- which actions the table offers, and to whom ---------------------------------------------


def _actions_for(html, key):
    row = re.search(rf'<tr id="key-{key.pk}".*?</tr>', html, re.S).group(0)
    return set(re.findall(rf"{PAGE}/{key.pk}/(\w+)\"", row))


def test_row_actions_follow_the_key_status(owner_client, mixed_keys):
    html = owner_client.get(PAGE).content.decode()
    assert _actions_for(html, mixed_keys["active"]) == {"rotate", "deprecate", "revoke", "delete"}
    assert _actions_for(html, mixed_keys["deprecated"]) == {
        "rotate",
        "activate",
        "revoke",
        "delete",
    }
    assert _actions_for(html, mixed_keys["expired"]) == {"revoke", "delete"}
    assert _actions_for(html, mixed_keys["revoked"]) == {"delete"}


def test_destructive_actions_sit_behind_a_confirmation_disclosure(owner_client, key):
    html = owner_client.get(PAGE).content.decode()
    for action, button in [("revoke", "Revoke key"), ("delete", "Delete key")]:
        block = re.search(
            rf"<details>\s*<summary>[^<]+</summary>\s*<form method=\"post\" "
            rf"action=\"{PAGE}/{key.pk}/{action}\".*?</details>",
            html,
            re.S,
        )
        assert block, action
        assert button in block.group(0)
        assert f'hx-post="{PAGE}/{key.pk}/{action}"' in block.group(0)


def test_viewer_sees_the_table_but_no_action_buttons(viewer_client, key):
    response = viewer_client.get(PAGE)
    html = response.content.decode()
    assert rows(response) == [key.prefix]
    assert '<form method="post"' not in html.split('<div id="main"', 1)[-1].split("</header>")[-1]
    assert "Mint key" not in html
    assert "Rotate" not in html and "Revoke" not in html and "Delete" not in html
    assert "Actions</th>" not in html


@pytest.mark.parametrize("action", ["rotate", "deprecate", "revoke", "delete"])
def test_viewer_posting_anyway_is_403_and_changes_nothing(viewer_client, key, action):
    response = viewer_client.post(f"{PAGE}/{key.pk}/{action}")
    assert response.status_code == 403
    response = viewer_client.post(f"{PAGE}/{key.pk}/{action}", headers=HTMX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#flash"
    key.refresh_from_db()
    assert key.status == "active"
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_viewer_cannot_mint(viewer_client, tenant):
    assert viewer_client.post(PAGE, {"name": "x"}).status_code == 403
    assert not tenant.api_keys.exists()


def test_viewer_session_can_read_the_json_api_but_not_write(viewer_client, key):
    assert viewer_client.get(API).status_code == 200
    response = viewer_client.post(f"{API}/{key.pk}/revoke", "{}", content_type="application/json")
    assert response.status_code == 403


def test_admin_member_can_act(admin_client, key):
    assert admin_client.post(f"{PAGE}/{key.pk}/revoke").status_code == 303


def test_htmx_history_restore_gets_the_full_page(owner_client, key):
    # Back to a pushed URL with no cached snapshot: htmx swaps the answer in as the whole body.
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    response = owner_client.get(PAGE, {"status": "active"}, headers=headers)
    assert is_full_page(response)
    assert rows(response) == [key.prefix]


def test_the_key_panel_is_kept_out_of_the_htmx_history_cache(owner_client, tenant):
    html = owner_client.post(PAGE, {"name": "ci"}, headers=HTMX).content.decode()
    assert re.search(r'<div class="secret-panel"[^>]* hx-history="false"', html)
