"""Tenancy and authorization boundaries, swept across endpoints: another tenant's objects are
404 on every URL (ids of keys, agents, grants, roles, memberships, keyId, agentId, role slugs),
viewers and admins are refused what they may not do, each admin scope opens only its
endpoints, and agent and admin keys stay on their own API."""

import pytest

from access.actor import Actor
from agents import services as agent_services
from tenants.models import Membership
from tests.conftest import HTMX, ApiClient, mint_admin_key

SYS = Actor.system("t")


@pytest.fixture
def world(tenant, other_tenant, owner, outsider):
    agent_services.create_role(tenant, SYS, slug="r-a", name="R A", permissions=["read:a"])
    rb = agent_services.create_role(
        other_tenant, SYS, slug="r-b", name="R B", permissions=["read:b"]
    )
    a, ak, _ = agent_services.create_agent(tenant, SYS, name="bot-a")
    b, bk, bsecret = agent_services.create_agent(other_tenant, SYS, name="bot-b")
    ga = agent_services.create_grant(tenant, SYS, a, permission="read:x")
    gb = agent_services.create_grant(other_tenant, SYS, b, permission="read:y")
    ka, _ = mint_admin_key(tenant, name="a-admin")
    kb, _ = mint_admin_key(other_tenant, name="b-admin")
    mb = Membership.objects.get(tenant=other_tenant)
    return dict(a=a, ak=ak, ka=ka, b=b, bk=bk, bsecret=bsecret, ga=ga, gb=gb, kb=kb, mb=mb, rb=rb)


# Each route with a method it takes, so a 404 can only come from the lookup of the object in
# the caller's tenant, never from a 405 answered before any object is loaded. Ordered safe
# first, destructive last: the control sweep over the caller's own objects runs them in turn.
API_ROUTES = [
    ("get", "agents/{agent}"),
    ("get", "agents/{agent}/keys"),
    ("get", "agents/{agent}/grants"),
    ("get", "api-keys/{admin_key}"),
    ("get", "api-keys/{key}"),
    ("get", "roles/{role}"),
    ("post", "agents/{agent}/keys"),
    ("post", "agents/{agent}/grants"),
    ("patch", "agents/{agent}"),
    ("patch", "roles/{role}"),
    ("post", "api-keys/{key}/rotate"),
    ("post", "agents/{agent}/rotate-key"),
    ("post", "api-keys/{admin_key}/revoke"),
    ("post", "agents/{agent}/deactivate"),
    ("delete", "agents/{agent}/grants/{grant}"),
    ("delete", "api-keys/{admin_key}"),
    ("delete", "roles/{role}"),
    ("delete", "agents/{agent}"),
]

# The portal takes GET and POST only: its deletes and edits are form posts.
PORTAL_ROUTES = [
    ("get", "agents/{agent}"),
    ("get", "agents/{agent}/keys"),
    ("get", "agents/{agent}/grants"),
    ("get", "settings/api-keys/{admin_key}"),
    ("get", "settings/api-keys/{key}"),
    ("get", "roles/{role}"),
    ("post", "agents/{agent}"),
    ("post", "roles/{role}"),
    ("post", "agents/{agent}/keys"),
    ("post", "agents/{agent}/grants"),
    ("post", "settings/api-keys/{key}/rotate"),
    ("post", "agents/{agent}/rotate-key"),
    ("post", "settings/api-keys/{admin_key}/revoke"),
    ("post", "agents/{agent}/keys/{key}/revoke"),
    ("post", "agents/{agent}/deactivate"),
    ("post", "settings/members/{member}/role"),
    ("post", "agents/{agent}/grants/{grant}/revoke"),
    ("post", "settings/api-keys/{admin_key}/delete"),
    ("post", "roles/{role}/delete"),
    ("post", "settings/members/{member}/remove"),
    ("post", "agents/{agent}/delete"),
]


def objects_of(w, side, member):
    """The ids that fill the routes: side "a" is the caller's tenant, "b" the other one."""
    return {
        "agent": w[side].pk,
        "key": w[f"{side}k"].pk,
        "admin_key": w[f"k{side}"].pk,
        "grant": w[f"g{side}"].pk,
        "role": f"r-{side}",
        "member": member.pk,
    }


def sweep(client, base, routes, ids, headers=None):
    """(method, url, status) of each route filled with `ids`."""
    answers = []
    for method, template in routes:
        url = f"{base}/{template.format(**ids)}"
        if method in ("get", "delete"):
            response = getattr(client, method)(url, headers=headers or {})
        else:
            data = {"role": "viewer"} if base.endswith("/portal") else {}
            response = getattr(client, method)(url, data, headers=headers or {})
        answers.append((method, url, response))
    return answers


def test_api_cross_tenant(api, world, admin, tenant):
    base = "/t/acme-corp/api/v1/admin"
    theirs = objects_of(world, "b", world["mb"])
    for m, u, r in sweep(api, base, API_ROUTES, theirs):
        assert r.status_code == 404, (m, u, r.status_code)
        assert r.json()["error"] == "not_found", (m, u)
    a = world["a"]
    # keyId of another tenant's agent key, grant of another agent
    r = api.post(
        f"/t/acme-corp/api/v1/admin/agents/{a.pk}/rotate-key", {"keyId": str(world["bk"].pk)}
    )
    assert r.status_code == 404, r.content
    r = api.delete(f"/t/acme-corp/api/v1/admin/agents/{a.pk}/grants/{world['gb'].pk}")
    assert r.status_code == 404
    r = api.patch(f"/t/acme-corp/api/v1/admin/agents/{a.pk}", {"roles": ["r-b"]})
    assert r.status_code == 400, r.content
    r = api.get("/t/acme-corp/api/v1/admin/api-keys", {"agentId": str(world["b"].pk)})
    assert r.json()["data"] == []
    r = api.get("/t/acme-corp/api/v1/admin/audit-logs", {"targetId": str(world["b"].pk)})
    assert r.json()["data"] == []
    # other tenant's key on acme's mount
    r = ApiClient(world["bsecret"]).get("/t/acme-corp/api/v1/agents/me")
    assert r.status_code == 401
    # Control (last: it deletes our objects): the same routes and methods on our own objects
    # are served, or refused on the body, so the 404s came from the tenant, not the route.
    ours = objects_of(world, "a", Membership.objects.get(tenant=tenant, user=admin))
    for m, u, r in sweep(api, base, API_ROUTES, ours):
        assert r.status_code not in (404, 405), (m, u, r.status_code, r.content[:200])


def test_portal_cross_tenant(owner_client, world, admin, tenant):
    P = "/t/acme-corp/portal"
    theirs = objects_of(world, "b", world["mb"])
    for h in ({}, HTMX):
        for m, u, r in sweep(owner_client, P, PORTAL_ROUTES, theirs, headers=h):
            assert r.status_code == 404, (m, u, r.status_code, h)
    a = world["a"]
    r = owner_client.post(f"{P}/agents/{a.pk}/keys/{world['bk'].pk}/revoke")
    assert r.status_code == 404
    r = owner_client.post(f"{P}/agents/{a.pk}/rotate-key", {"keyId": str(world["bk"].pk)})
    assert r.status_code == 404, r.status_code
    # Control (last: it deletes our objects): the same routes on our own objects are no 404.
    ours = objects_of(world, "a", Membership.objects.get(tenant=tenant, user=admin))
    for m, u, r in sweep(owner_client, P, PORTAL_ROUTES, ours):
        assert r.status_code not in (404, 405), (m, u, r.status_code)


def test_viewer_posts(viewer_client, world, tenant):
    P = "/t/acme-corp/portal"
    a = world["a"]

    m = Membership.objects.get(tenant=tenant, role="owner")
    for u, d in [
        ("/settings/api-keys", {"name": "x"}),
        (f"/settings/api-keys/{world['ak'].pk}/revoke", {}),
        (f"/settings/api-keys/{world['ak'].pk}/delete", {}),
        (f"/settings/api-keys/{world['ak'].pk}/rotate", {}),
        ("/agents", {"name": "q"}),
        (f"/agents/{a.pk}", {"name": "q"}),
        (f"/agents/{a.pk}/rotate-key", {}),
        (f"/agents/{a.pk}/keys", {"name": "k"}),
        (f"/agents/{a.pk}/grants", {"permission": "read:z"}),
        (f"/agents/{a.pk}/grants/{world['ga'].pk}/revoke", {}),
        (f"/agents/{a.pk}/deactivate", {}),
        (f"/agents/{a.pk}/delete", {}),
        ("/roles", {"slug": "zz", "name": "zz"}),
        ("/roles/r-a", {"name": "x"}),
        ("/roles/r-a/delete", {}),
        ("/settings/members", {"email": "n@x.y", "role": "owner"}),
        (f"/settings/members/{m.pk}/role", {"role": "viewer"}),
        (f"/settings/members/{m.pk}/remove", {}),
        (f"/agents/{a.pk}/keys/{world['ak'].pk}/revoke", {}),
    ]:
        r = viewer_client.post(P + u, d)
        assert r.status_code == 403, (u, r.status_code)


def test_admin_cannot_touch_members(admin_client, world, tenant):
    P = "/t/acme-corp/portal"
    m = Membership.objects.get(tenant=tenant, role="owner")
    for u, d in [
        ("/settings/members", {"email": "n@x.y", "role": "owner"}),
        (f"/settings/members/{m.pk}/role", {"role": "viewer"}),
        (f"/settings/members/{m.pk}/remove", {}),
    ]:
        r = admin_client.post(P + u, d)
        assert r.status_code == 403, (u, r.status_code)


SCOPED = [
    (
        "api_keys:read",
        [
            ("get", "/api-keys", 200),
            ("post", "/api-keys", 403),
            ("get", "/agents", 403),
            ("get", "/roles", 403),
            ("get", "/audit-logs", 403),
            ("post", "/agents", 403),
        ],
    ),
    (
        "agents:read",
        [
            ("get", "/agents", 200),
            ("post", "/agents", 403),
            ("get", "/api-keys", 403),
            ("get", "/roles", 403),
            ("post", "AGENT/rotate-key", 403),
            ("post", "AGENT/grants", 403),
            ("post", "AGENT/keys", 403),
            ("delete", "AGENT", 403),
            ("patch", "AGENT", 403),
        ],
    ),
    (
        "agents:write",
        [
            ("post", "AGENT/rotate-key", 201),
            ("get", "/api-keys", 403),
            ("post", "/roles", 403),
            ("post", "KEY/rotate", 403),
        ],
    ),
    (
        "roles:read",
        [
            ("get", "/roles", 200),
            ("post", "/roles", 403),
            ("get", "/agents", 403),
            ("delete", "/roles/r-a", 403),
            ("patch", "/roles/r-a", 403),
        ],
    ),
    (
        "audit:read",
        [
            ("get", "/audit-logs", 200),
            ("get", "/audit-logs/export?format=csv", 200),
            ("get", "/agents", 403),
            ("get", "/api-keys", 403),
        ],
    ),
    (
        "keys:verify",
        [
            ("get", "/agents", 403),
            ("get", "/api-keys", 403),
            ("get", "/audit-logs", 403),
            ("get", "/roles", 403),
        ],
    ),
    ("api_keys:write", [("get", "/agents", 403), ("post", "/api-keys", 400)]),
]


@pytest.mark.parametrize("scope,cases", SCOPED)
def test_scopes(tenant, world, scope, cases):
    _, secret = mint_admin_key(tenant, name="s", scopes=[scope])
    c = ApiClient(secret)
    for m, u, want in cases:
        u = u.replace("AGENT", f"/agents/{world['a'].pk}").replace(
            "KEY", f"/api-keys/{world['ak'].pk}"
        )
        r = (
            getattr(c, m)("/t/acme-corp/api/v1/admin" + u)
            if m in ("get", "delete")
            else getattr(c, m)("/t/acme-corp/api/v1/admin" + u, {})
        )
        assert r.status_code == want, (scope, m, u, r.status_code, r.content[:200])


def test_verify_scope(tenant, world):
    for scope, want in [("agents:read", 403), ("keys:verify", 200), ("api_keys:write", 403)]:
        _, secret = mint_admin_key(tenant, name="s" + scope, scopes=[scope])
        r = ApiClient(secret).post("/t/acme-corp/api/v1/keys/verify", {"key": "x"})
        assert r.status_code == want, (scope, r.status_code)


def test_agent_key_on_admin_and_admin_on_me(tenant, api, world):
    a, ak, asecret = agent_services.create_agent(tenant, SYS, name="bot-c")
    c = ApiClient(asecret)
    for u in ["/admin/api-keys", "/admin/agents", "/admin/roles", "/admin/audit-logs"]:
        assert c.get("/t/acme-corp/api/v1" + u).status_code == 403
    assert c.post("/t/acme-corp/api/v1/keys/verify", {"key": "x"}).status_code == 403
    for u in ["", "/usage", "/grants"]:
        assert api.get("/t/acme-corp/api/v1/agents/me" + u).status_code == 403
    for u in ["/rotate", "/deactivate"]:
        assert api.post("/t/acme-corp/api/v1/agents/me" + u, {}).status_code == 403


def test_scoped_key_escalation(tenant, world):
    _, secret = mint_admin_key(tenant, name="s", scopes=["api_keys:write"])
    c = ApiClient(secret)
    full, _ = mint_admin_key(tenant, name="full")
    assert c.post("/t/acme-corp/api/v1/admin/api-keys", {"name": "x"}).status_code == 403
    assert (
        c.post(
            "/t/acme-corp/api/v1/admin/api-keys", {"name": "x", "scopes": ["agents:write"]}
        ).status_code
        == 403
    )
    assert c.post(f"/t/acme-corp/api/v1/admin/api-keys/{full.pk}/rotate", {}).status_code == 403
    _, s2 = mint_admin_key(tenant, name="s2", scopes=["agents:write"])
    c2 = ApiClient(s2)
    r = c2.post("/t/acme-corp/api/v1/admin/agents", {"name": "esc"})
    assert r.status_code == 201


# --- fixes after review --------------------------------------------------------------------


def test_a_key_without_agents_write_cannot_rotate_an_agent_key_into_its_hands(tenant):
    from access.actor import Actor
    from agents.models import Agent
    from apikeys import services as key_services
    from apikeys.models import ApiKey
    from tests.conftest import ApiClient, mint_admin_key

    agent = Agent.objects.create(tenant=tenant, name="support-bot")
    agent_key, _ = key_services.mint_key(tenant, Actor.system("t"), name="default", agent=agent)
    _, keys_only = mint_admin_key(tenant, name="keys-only", scopes=["api_keys:write"])
    response = ApiClient(keys_only).post(
        f"/t/acme-corp/api/v1/admin/api-keys/{agent_key.pk}/rotate", {}
    )
    assert response.status_code == 403
    assert "apiKey" not in response.json()
    assert ApiKey.objects.filter(agent=agent).count() == 1
    agent_key.refresh_from_db()
    assert agent_key.status == "active" and agent_key.replaced_by_id is None

    _, both = mint_admin_key(tenant, name="both", scopes=["api_keys:write", "agents:write"])
    response = ApiClient(both).post(f"/t/acme-corp/api/v1/admin/api-keys/{agent_key.pk}/rotate", {})
    assert response.status_code == 201
    assert response.json()["agentId"] == str(agent.pk)


def test_a_405_to_a_valid_key_carries_its_rate_limit_headers(api):
    response = api.put("/t/acme-corp/api/v1/admin/api-keys", {})
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "GET" in response["Allow"] and "POST" in response["Allow"]
    assert response["RateLimit-Limit"] and response["RateLimit-Remaining"]


def test_a_204_has_no_content_type(api, admin_key):
    from tests.conftest import mint_admin_key

    victim, _ = mint_admin_key(admin_key[0].tenant, name="victim")
    response = api.delete(f"/t/acme-corp/api/v1/admin/api-keys/{victim.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response
