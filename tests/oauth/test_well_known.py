"""JWKS and RFC 8414 metadata (SPEC §10): public, cacheable, no database query."""

from django.test import Client

from tests.oauth.conftest import API

JWKS = f"{API}/.well-known/jwks.json"
ISSUER = "http://127.0.0.1:8000/t/acme-corp/api/v1"


def test_jwks_publishes_the_signing_key_without_any_private_parameter(issued):
    response = Client().get(JWKS)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
    assert key["alg"] == "RS256" and key["kty"] == "RSA"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_jwks_needs_no_query_after_the_first(issued, django_assert_num_queries):
    Client().get(JWKS)
    with django_assert_num_queries(0):
        assert Client().get(JWKS).status_code == 200


def test_metadata_names_the_issuer_and_endpoints_with_no_query(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get(f"{API}/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == ISSUER
    assert body["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert body["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert body["introspection_endpoint"] == f"{ISSUER}/oauth/introspect"
    assert body["revocation_endpoint"] == f"{ISSUER}/oauth/revoke"
    assert body["registration_endpoint"] == f"{ISSUER}/oauth/register"
    assert "client_credentials" in body["grant_types_supported"]
    assert body["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]


def test_metadata_is_also_at_the_rfc8414_path_inserted_url(db):
    inserted = Client().get("/.well-known/oauth-authorization-server/t/acme-corp/api/v1")
    direct = Client().get(f"{API}/.well-known/oauth-authorization-server")
    assert inserted.status_code == 200
    assert inserted.json() == direct.json()


def test_metadata_uses_public_url_not_the_host_header(db, settings):
    settings.PUBLIC_URL = "https://id.example.com"
    response = Client().get(
        f"{API}/.well-known/oauth-authorization-server", headers={"Host": "127.0.0.1"}
    )
    assert response.json()["issuer"] == "https://id.example.com/t/acme-corp/api/v1"


def test_a_malformed_slug_is_not_found(db):
    assert Client().get("/t/NOT_A_SLUG/api/v1/.well-known/jwks.json").status_code == 404


def test_jwks_before_any_token_already_publishes_the_key_that_will_sign(db):
    (key,) = Client().get(JWKS).json()["keys"]
    from access import signing

    assert signing.signing_key().kid == key["kid"]
