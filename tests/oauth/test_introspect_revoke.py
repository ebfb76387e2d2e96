"""Introspection (RFC 7662), revocation (RFC 7009) and revoke-tokens (SPEC §10)."""

from django.test import Client

from audit.models import AuditEvent
from tests.conftest import mint_admin_key
from tests.oauth.conftest import API, basic, bearer, get_token

ME = f"{API}/agents/me"
INTROSPECT = f"{API}/oauth/introspect"
REVOKE = f"{API}/oauth/revoke"


def introspect(token, credential):
    return Client().post(
        INTROSPECT, {"token": token}, content_type="application/json", headers=bearer(credential)
    )


def test_an_admin_key_introspects_a_live_token(issued, admin_key, client_id):
    response = introspect(issued["access_token"], admin_key[1])
    assert response.status_code == 200
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == body["sub"] == client_id
    assert body["tenant"] == "acme-corp"
    assert body["token_type"] == "Bearer"
    assert {"scope", "iss", "aud", "exp", "iat", "jti"} <= set(body)


def test_an_admin_key_without_keys_verify_may_not_introspect(issued, tenant):
    key = mint_admin_key(tenant, name="reader", scopes=["agents:read"])[1]
    assert introspect(issued["access_token"], key).status_code == 403


def test_an_admin_key_with_keys_verify_may_introspect(issued, tenant):
    key = mint_admin_key(tenant, name="verifier", scopes=["keys:verify"])[1]
    assert introspect(issued["access_token"], key).json()["active"] is True


def test_the_agent_itself_introspects_by_its_client_credentials(issued, client_id, secret):
    response = Client().post(
        INTROSPECT,
        f"token={issued['access_token']}",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": basic(client_id, secret)},
    )
    assert response.json()["active"] is True


def test_another_agent_sees_someone_elses_token_as_inactive(issued, tenant):
    from tests.agents.conftest import make_agent

    _, _, other_secret = make_agent(tenant, name="other-bot")
    assert introspect(issued["access_token"], other_secret).json() == {"active": False}


def test_garbage_and_revoked_tokens_are_exactly_inactive(issued, admin_key, made):
    assert introspect("not-a-token", admin_key[1]).json() == {"active": False}
    from access.actor import Actor
    from apikeys.services import revoke_key

    revoke_key(made[0].tenant, Actor.system("t"), made[1])
    assert introspect(issued["access_token"], admin_key[1]).json() == {"active": False}


def test_introspection_without_a_credential_is_401(issued):
    response = Client().post(
        INTROSPECT, {"token": issued["access_token"]}, content_type="application/json"
    )
    assert response.status_code == 401


def revoke(token, client_id, secret):
    return Client().post(
        REVOKE,
        {"token": token, "client_id": client_id, "client_secret": secret},
        content_type="application/json",
    )


def test_revoking_an_access_token_ends_it_with_an_empty_200(issued, client_id, secret, tenant):
    response = revoke(issued["access_token"], client_id, secret)
    assert response.status_code == 200
    assert response.content == b""
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401
    assert AuditEvent.objects.filter(tenant=tenant, action="oauth.token_revoked").count() == 1


def test_revoking_a_refresh_token_ends_its_whole_grant(issued, client_id, secret):
    assert revoke(issued["refresh_token"], client_id, secret).status_code == 200
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401


def test_revoking_an_unknown_token_is_also_200(db, client_id, secret):
    assert revoke("rt_nothing", client_id, secret).status_code == 200


def test_revoking_another_clients_token_does_nothing(issued, tenant):
    from tests.agents.conftest import make_agent

    other, _, other_secret = make_agent(tenant, name="other-bot")
    assert revoke(issued["access_token"], str(other.pk), other_secret).status_code == 200
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 200


def test_revoke_needs_client_authentication(issued):
    response = Client().post(
        REVOKE, {"token": issued["access_token"]}, content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_revoke_tokens_ends_every_token_of_the_agent_now(
    issued, api, made, tenant, client_id, secret
):
    second = get_token(client_id, secret).json()
    response = api.post(f"{API}/admin/agents/{made[0].pk}/revoke-tokens")
    assert response.status_code == 200, response.content
    assert response.json()["revokedGrants"] == 2
    for body in (issued, second):
        assert Client().get(ME, headers=bearer(body["access_token"])).status_code == 401
    assert AuditEvent.objects.filter(tenant=tenant, action="oauth.tokens_revoked").count() == 1
    # The agent can get a new token afterwards.
    fresh = get_token(client_id, secret).json()
    assert Client().get(ME, headers=bearer(fresh["access_token"])).status_code == 200


def test_revoke_tokens_needs_agents_write(issued, made, tenant, make_api):
    key = mint_admin_key(tenant, name="reader", scopes=["agents:read"])[1]
    response = make_api(key).post(f"{API}/admin/agents/{made[0].pk}/revoke-tokens")
    assert response.status_code == 403


def test_revoke_tokens_for_another_tenants_agent_is_404(api, other_tenant):
    from tests.agents.conftest import make_agent

    foreign = make_agent(other_tenant, name="globex-bot")[0]
    assert api.post(f"{API}/admin/agents/{foreign.pk}/revoke-tokens").status_code == 404
