"""POST /oauth/token with grant_type=client_credentials (SPEC §10)."""

from urllib.parse import urlencode

import pytest
from django.test import Client
from joserfc import jwt
from joserfc.jwk import RSAKey

from access import signing
from apikeys import usage
from apikeys.models import KeyUsage
from tests.oauth.conftest import TOKEN, basic, get_token


def test_json_body_client_credentials_answers_a_bearer_token_and_a_refresh_token(issued):
    assert issued["token_type"] == "Bearer"
    assert issued["expires_in"] == 3600
    assert issued["refresh_token"].startswith("rt_")
    assert set(issued["scope"].split()) == {"read:reports", "read:tickets", "write:tickets"}


def test_form_body_with_http_basic_works_and_is_not_cached(client_id, secret):
    response = Client().post(
        TOKEN,
        "grant_type=client_credentials&scope=read%3Areports",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": basic(client_id, secret)},
    )
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response.json()["scope"] == "read:reports"


def test_form_body_with_client_secret_post_works(client_id, secret):
    response = Client().post(
        TOKEN,
        urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content


def test_unrecognized_parameters_are_ignored_as_rfc_6749_requires(client_id, secret):
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = Client().post(
        TOKEN,
        urlencode({**form, "resource": "https://api.example.com", "x-trace": "1"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert get_token(client_id, secret, audience="x").status_code == 200  # JSON too


def test_basic_and_body_credentials_at_once_are_invalid_request(client_id, secret):
    response = Client().post(
        TOKEN,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        content_type="application/json",
        headers={"Authorization": basic(client_id, secret)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_access_token_is_an_rs256_at_jwt_with_the_spec_claims(issued, client_id, settings):
    token = jwt.decode(
        issued["access_token"],
        RSAKey.import_key(signing.published()[0]),
        algorithms=["RS256"],
    )
    assert token.header["typ"] == "at+jwt"
    assert token.header["kid"] == signing.published()[0]["kid"]
    claims = token.claims
    issuer = "http://127.0.0.1:8000/t/acme-corp/api/v1"
    assert claims["iss"] == issuer and claims["aud"] == issuer
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["tenant"] == "acme-corp"
    assert claims["exp"] - claims["iat"] == 3600
    assert {"jti", "scope"} <= set(claims)


def test_issuer_comes_from_public_url_never_the_host_header(client_id, secret, settings):
    settings.PUBLIC_URL = "https://tessera.example.com"
    response = Client(HTTP_HOST="evil.example").post(
        TOKEN,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        content_type="application/json",
        headers={"Host": "127.0.0.1"},
    )
    claims = jwt.decode(
        response.json()["access_token"], RSAKey.import_key(signing.published()[0])
    ).claims
    assert claims["iss"] == "https://tessera.example.com/t/acme-corp/api/v1"


def test_wrong_secret_is_invalid_client_401(client_id, tenant):
    from tests.agents.conftest import make_agent

    other_secret = make_agent(tenant, name="other-bot")[2]
    response = get_token(client_id, other_secret)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert {"error_description", "message", "status"} <= set(body)


def test_unknown_tenant_answers_exactly_like_a_wrong_secret(client_id, secret, tenant):
    from tests.agents.conftest import make_agent

    wrong = get_token(client_id, make_agent(tenant, name="other-bot")[2])
    unknown = get_token(client_id, secret, tenant="no-such-tenant")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_scope_wider_than_the_access_set_is_invalid_scope(client_id, secret):
    response = get_token(client_id, secret, scope="read:reports admin:everything")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_admin_key_is_not_a_client_secret(client_id, admin_key):
    response = get_token(client_id, admin_key[1])
    assert response.status_code == 401


def test_revoked_key_mints_no_token(client_id, secret, made):
    from access.actor import Actor
    from apikeys.services import revoke_key

    revoke_key(made[0].tenant, Actor.system("t"), made[1])
    assert get_token(client_id, secret).status_code == 401


def test_unsupported_grant_type(client_id, secret):
    response = get_token(client_id, secret, grant_type="password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_request_counts_as_a_use_of_the_key(client_id, secret, made):
    get_token(client_id, secret)
    usage.flush()
    assert KeyUsage.objects.get(key=made[1]).count == 1


def test_token_requests_spend_the_keys_rate_limit(client_id, secret, made):
    from apikeys.models import ApiKey

    ApiKey.objects.filter(pk=made[1].pk).update(rate_limit_per_minute=2)
    assert get_token(client_id, secret).status_code == 200
    assert get_token(client_id, secret).status_code == 200
    refused = get_token(client_id, secret)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert "Retry-After" in refused


def test_signing_key_is_created_once_and_stored_encrypted(issued):
    from oauth.models import SigningKey

    row = SigningKey.objects.get()
    assert '"d"' not in row.private_jwk_encrypted
    assert row.private_jwk_encrypted.startswith("gAAAA")  # a Fernet token


@pytest.mark.parametrize("method", ["get", "put"])
def test_token_endpoint_is_post_only(method):
    response = getattr(Client(), method)(TOKEN)
    assert response.status_code == 405
