"""Admin key scopes on the key endpoints: 403 for a missing scope, write implies read, and no
escalation (a scoped key can never mint or rotate into more than it holds)."""

import pytest

from access.actor import Actor
from agents.models import Agent
from apikeys import services
from apikeys.models import ApiKey
from tests.conftest import mint_admin_key

API = "/t/acme-corp/api/v1/admin/api-keys"

pytestmark = pytest.mark.django_db


def client_with(tenant, make_api, *scopes):
    return make_api(mint_admin_key(tenant, name="scoped", scopes=scopes)[1])


@pytest.fixture
def victim(tenant):
    return mint_admin_key(tenant, name="victim", scopes=["api_keys:read"])[0]


def reads(api, key):
    return [api.get(API), api.get(f"{API}/{key.pk}")]


def writes(api, key):
    return [
        api.post(API, {"name": "new", "scopes": ["api_keys:read"]}),
        api.post(f"{API}/{key.pk}/deprecate"),
        api.post(f"{API}/{key.pk}/activate"),
        api.post(f"{API}/{key.pk}/rotate"),
        api.post(f"{API}/{key.pk}/revoke"),
        api.delete(f"{API}/{key.pk}"),
    ]


@pytest.mark.parametrize("scopes", [["agents:read"], ["agents:write", "audit:read", "keys:verify"]])
def test_a_key_without_api_keys_scopes_gets_403_everywhere(tenant, make_api, victim, scopes):
    api = client_with(tenant, make_api, *scopes)
    for response in reads(api, victim) + writes(api, victim):
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
        assert "api_keys:" in response.json()["message"]
    victim.refresh_from_db()
    assert victim.status == "active"
    assert ApiKey.objects.filter(pk=victim.pk).exists()


def test_read_scope_reads_but_cannot_write(tenant, make_api, victim):
    api = client_with(tenant, make_api, "api_keys:read")
    assert [r.status_code for r in reads(api, victim)] == [200, 200]
    for response in writes(api, victim):
        assert response.status_code == 403
        assert "api_keys:write" in response.json()["message"]
    assert not tenant.api_keys.filter(name="new").exists()
    victim.refresh_from_db()
    assert victim.status == "active"


def test_write_scope_implies_read(tenant, make_api, victim):
    api = client_with(tenant, make_api, "api_keys:write")
    assert [r.status_code for r in reads(api, victim)] == [200, 200]


def test_write_scope_can_act_on_keys_within_its_reach(tenant, make_api, victim):
    api = client_with(tenant, make_api, "api_keys:write", "api_keys:read")
    statuses = [r.status_code for r in writes(api, victim)]
    # mint, deprecate, activate, rotate (victim's scopes are within reach), revoke the
    # replacement's predecessor (already revoked by rotation → 409), delete.
    assert statuses == [201, 200, 200, 201, 409, 204]


def test_a_scoped_key_cannot_mint_a_full_admin_key(tenant, make_api):
    api = client_with(tenant, make_api, "api_keys:write")
    response = api.post(API, {"name": "root"})
    assert response.status_code == 403
    assert "full-admin" in response.json()["message"]
    response = api.post(API, {"name": "root", "scopes": []})
    assert response.status_code == 403
    assert not tenant.api_keys.filter(name="root").exists()


def test_a_scoped_key_cannot_mint_a_scope_it_lacks(tenant, make_api):
    api = client_with(tenant, make_api, "api_keys:write", "agents:read")
    response = api.post(API, {"name": "wider", "scopes": ["agents:read", "agents:write"]})
    assert response.status_code == 403
    assert "agents:write" in response.json()["message"]
    assert not tenant.api_keys.filter(name="wider").exists()
    ok = api.post(API, {"name": "narrower", "scopes": ["agents:read"]})
    assert ok.status_code == 201
    assert ok.json()["scopes"] == ["agents:read"]


def test_a_scoped_key_can_mint_its_own_scopes(tenant, make_api):
    api = client_with(tenant, make_api, "api_keys:write", "audit:read")
    response = api.post(API, {"name": "same", "scopes": ["audit:read", "api_keys:write"]})
    assert response.status_code == 201


def test_a_scoped_key_cannot_rotate_a_wider_key(tenant, make_api):
    api = client_with(tenant, make_api, "api_keys:write")
    full_admin = mint_admin_key(tenant, name="root")[0]
    wider = mint_admin_key(tenant, name="wider", scopes=["api_keys:write", "audit:read"])[0]
    for key in (full_admin, wider):
        response = api.post(f"{API}/{key.pk}/rotate")
        assert response.status_code == 403
        key.refresh_from_db()
        assert key.status == "active" and key.replaced_by_id is None
    assert ApiKey.objects.count() == 3


def test_a_full_admin_key_can_mint_any_scopes(api):
    response = api.post(API, {"name": "all", "scopes": list(services.ADMIN_SCOPES)})
    assert response.status_code == 201


def test_an_agent_key_is_refused_on_the_admin_api(tenant, make_api):
    agent = Agent.objects.create(tenant=tenant, name="bot")
    _, secret = services.mint_key(tenant, Actor.system("tests"), name="k", agent=agent)
    response = make_api(secret).get(API)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_portal_members_are_not_limited_by_scopes(owner_client, tenant):
    response = owner_client.post("/t/acme-corp/portal/settings/api-keys", {"name": "root"})
    assert response.status_code == 201
    assert tenant.api_keys.get(name="root").scopes == []
