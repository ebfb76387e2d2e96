"""Access tokens on the agent runtime API, checked live (SPEC §10), and the attacks on them."""

import base64
import hashlib
import hmac
import json

from django.test import Client
from django.utils import timezone

from access import signing
from access.actor import Actor
from agents import services as agent_services
from apikeys import services as key_services
from apikeys.models import ApiKey
from tests.oauth.conftest import API, bearer, get_token

ME = f"{API}/agents/me"
SYSTEM = Actor.system("tests")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def forge(header: dict, claims: dict, sign=lambda signing_input: b"") -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def test_a_token_works_on_agents_me(issued, client_id):
    response = Client().get(ME, headers=bearer(issued["access_token"]))
    assert response.status_code == 200, response.content
    assert response.json()["id"] == client_id


def test_a_token_checks_the_database_in_one_query(issued, django_assert_num_queries):
    from access import tokens

    raw = issued["access_token"]
    with django_assert_num_queries(1):
        assert tokens.check(raw, "acme-corp") is not None


def test_a_token_on_the_admin_api_is_forbidden(issued):
    response = Client().get(f"{API}/admin/agents", headers=bearer(issued["access_token"]))
    assert response.status_code == 403


def test_alg_none_is_refused(issued):
    header = {"alg": "none", "typ": "at+jwt", "kid": signing.published()[0]["kid"]}
    forged = forge(header, claims_of(issued["access_token"]))
    assert Client().get(ME, headers=bearer(forged)).status_code == 401


def test_hs256_signed_with_the_public_key_as_secret_is_refused(issued):
    jwk = signing.published()[0]
    header = {"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}
    for secret in (json.dumps(jwk).encode(), jwk["n"].encode()):
        forged = forge(
            header,
            claims_of(issued["access_token"]),
            lambda data, s=secret: hmac.new(s, data, hashlib.sha256).digest(),
        )
        assert Client().get(ME, headers=bearer(forged)).status_code == 401


def test_a_tampered_claim_breaks_the_signature(issued):
    head, _, sig = issued["access_token"].split(".")
    claims = claims_of(issued["access_token"])
    claims["scope"] = "admin:everything"
    tampered = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    assert Client().get(ME, headers=bearer(tampered)).status_code == 401


def test_another_tenants_token_is_refused(other_tenant):
    from tests.agents.conftest import make_agent

    agent, _, secret = make_agent(other_tenant, name="globex-bot")
    response = get_token(str(agent.pk), secret, tenant="globex")
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert Client().get(ME, headers=bearer(token)).status_code == 401
    assert Client().get("/t/globex/api/v1/agents/me", headers=bearer(token)).status_code == 200


def test_an_expired_token_is_refused(client_id, secret, settings):
    settings.OAUTH_ACCESS_TOKEN_SECONDS = 0  # expired the moment it is issued: no waiting
    token = get_token(client_id, secret).json()["access_token"]
    assert claims_of(token)["exp"] == claims_of(token)["iat"]
    assert Client().get(ME, headers=bearer(token)).status_code == 401


def test_revoking_the_minting_key_ends_its_tokens_at_once(issued, made):
    key_services.revoke_key(made[0].tenant, SYSTEM, made[1])
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401


def test_deleting_the_minting_key_ends_its_tokens(issued, made):
    key_services.delete_key(made[0].tenant, SYSTEM, made[1])
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401


def test_deactivating_the_agent_ends_its_tokens_at_once(issued, made):
    agent_services.set_agent_active(made[0].tenant, SYSTEM, made[0], False)
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401


def test_deleting_the_agent_ends_its_tokens(issued, made):
    agent_services.delete_agent(made[0].tenant, SYSTEM, made[0])
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401


def test_an_expired_agent_ends_its_tokens(issued, made):
    type(made[0]).objects.filter(pk=made[0].pk).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401


def test_rotating_the_key_keeps_minted_tokens_but_the_old_secret_mints_no_more(
    issued, made, client_id, secret
):
    agent_services.rotate_agent_keys(made[0].tenant, SYSTEM, made[0], key_id=made[1].pk)
    assert ApiKey.objects.get(pk=made[1].pk).status == "revoked"
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 200
    assert get_token(client_id, secret).status_code == 401


def test_rotate_with_a_manage_self_token_replaces_the_key_that_minted_it(made, client_id, secret):
    token = get_token(client_id, secret, scope="read:reports manage:self").json()
    response = Client().post(
        f"{ME}/rotate",
        "{}",
        content_type="application/json",
        headers=bearer(token["access_token"]),
    )
    assert response.status_code == 201, response.content
    old = ApiKey.objects.get(pk=made[1].pk)
    assert str(old.replaced_by_id) == response.json()["id"]


def test_a_token_counts_against_the_minting_keys_rate_limit(issued):
    response = Client().get(ME, headers=bearer(issued["access_token"]))
    assert response["RateLimit-Limit"] == "600"
    # The token request itself was the first use.
    assert response["RateLimit-Remaining"] == "598"
