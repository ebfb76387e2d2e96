"""Authenticating API requests (SPEC §3): header forms, bad keys, key states, cost, session
auth with CSRF, and the client IP behind trusted proxies."""

import datetime as dt
import logging

import pytest
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from access import credentials, keyformat, keys
from access.actor import Actor
from apikeys import services, usage
from apikeys.models import ApiKey
from audit.models import AuditEvent
from portal import proxies
from tests.conftest import mint_admin_key

API = "/t/acme-corp/api/v1/admin/api-keys"
PAGE = "/t/acme-corp/portal/settings/api-keys"

pytestmark = pytest.mark.django_db


def get(path=API, **headers):
    return Client().get(path, headers=headers)


def assert_401(response):
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "Missing or invalid credentials.",
        "status": 401,
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


def rejections(tenant):
    return AuditEvent.objects.filter(tenant=tenant, action="api_key.rejected")


# --- header forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header,template",
    [
        ("Authorization", "Bearer {}"),
        ("Authorization", "bearer {}"),
        ("Authorization", "ApiKey {}"),
        ("X-API-Key", "{}"),
    ],
)
def test_each_header_form_authenticates(admin_key, header, template):
    response = get(**{header: template.format(admin_key[1])})
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == str(admin_key[0].pk)


def test_two_different_credentials_are_400(tenant, admin_key):
    _, other = mint_admin_key(tenant, name="second")
    response = get(Authorization=f"Bearer {admin_key[1]}", **{"X-API-Key": other})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_the_same_key_in_two_headers_is_fine(admin_key):
    response = get(Authorization=f"ApiKey {admin_key[1]}", **{"X-API-Key": admin_key[1]})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"])
def test_other_authorization_schemes_are_401(admin_key, value):
    assert get(Authorization=value).status_code == 401


def test_no_credentials_is_401(tenant):
    assert_401(get())


# --- bad keys --------------------------------------------------------------------------------


def with_secret(key: ApiKey, secret: str) -> str:
    """A well-formed key string with `key`'s public id and a different secret."""
    body = key.prefix + secret
    return body + keyformat.checksum(body)


def test_a_truncated_key_is_401(admin_key):
    assert_401(get(Authorization=f"Bearer {admin_key[1][:-1]}"))
    assert_401(get(Authorization=f"Bearer {admin_key[1][:20]}"))


def test_a_key_with_a_broken_checksum_is_401(admin_key):
    raw = admin_key[1]
    broken = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert_401(get(Authorization=f"Bearer {broken}"))


def test_a_key_with_the_wrong_secret_is_401_and_not_audited(tenant, admin_key):
    forged = with_secret(admin_key[0], "x" * keyformat.SECRET_LEN)
    assert keyformat.parse(forged) is not None  # well formed, so it reaches the database
    assert_401(get(Authorization=f"Bearer {forged}"))
    assert not rejections(tenant).exists()


def test_an_admin_prefix_on_an_agent_key_is_401(tenant, admin_key):
    # Same public id and secret, other type prefix: the kind must match too.
    raw = admin_key[1].replace("lmk_", "sk_agent_live_", 1)[: -keyformat.CHECKSUM_LEN]
    assert_401(get(Authorization=f"Bearer {raw + keyformat.checksum(raw)}"))


def test_a_malformed_key_costs_no_query(tenant, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert_401(get(Authorization="Bearer lmk_notakey"))
    with django_assert_num_queries(0):
        assert_401(get(Authorization="Bearer " + "lmk_" + "A" * 61))


def test_a_valid_key_is_authenticated_with_exactly_one_query(admin_key, django_assert_num_queries):
    request = RequestFactory().get(API)
    with django_assert_num_queries(1):
        key = keys.authenticate_key(request, "acme-corp", admin_key[1])
    assert key.pk == admin_key[0].pk
    # The tenant and agent come with it: no further query.
    with django_assert_num_queries(0):
        assert key.tenant.slug == "acme-corp" and key.agent is None


def test_a_key_of_another_tenant_is_401_and_audited_in_its_own_tenant(tenant, other_tenant):
    key, secret = mint_admin_key(other_tenant, name="globex-ci")
    assert_401(get(Authorization=f"Bearer {secret}"))
    event = rejections(other_tenant).get()
    assert event.target_id == str(key.pk)
    assert event.metadata["reason"] == "wrong_tenant"
    assert event.metadata["path"] == API
    assert not rejections(tenant).exists()


def test_an_unknown_tenant_slug_is_401_not_404(admin_key):
    assert_401(
        get("/t/no-such-tenant/api/v1/admin/api-keys", Authorization=f"Bearer {admin_key[1]}")
    )
    assert_401(get("/t/no-such-tenant/api/v1/admin/api-keys"))
    assert_401(get("/orgs/no-such-tenant/api/v1/admin/api-keys"))


def test_a_revoked_key_is_401_and_audited(tenant):
    key, secret = mint_admin_key(tenant, name="old")
    services.revoke_key(tenant, Actor.system("tests"), key)
    assert_401(get(Authorization=f"Bearer {secret}"))
    assert rejections(tenant).get().metadata["reason"] == "revoked"


def test_an_expired_key_is_401_and_audited(tenant):
    key, secret = mint_admin_key(tenant, name="old")
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_401(get(Authorization=f"Bearer {secret}"))
    assert rejections(tenant).get().metadata["reason"] == "expired"


def test_a_deprecated_key_works_with_deprecation_and_sunset_headers(tenant):
    expires = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    key, secret = mint_admin_key(tenant, name="old", expires_at=expires)
    key = services.deprecate_key(tenant, Actor.system("tests"), key)
    response = get(Authorization=f"Bearer {secret}")
    assert response.status_code == 200
    assert response["Deprecation"] == f"@{int(key.deprecated_at.timestamp())}"
    assert response["Sunset"] == expires.strftime("%a, %d %b %Y %H:%M:%S GMT")


def test_an_active_key_has_no_deprecation_headers(admin_key):
    response = get(Authorization=f"Bearer {admin_key[1]}")
    assert "Deprecation" not in response and "Sunset" not in response


@pytest.mark.parametrize("param", ["api_key", "key", "token", "anything"])
def test_a_key_in_the_query_string_is_refused(admin_key, param):
    response = Client().get(API, {param: admin_key[1]})
    assert response.status_code == 401
    assert "query string" in response.json()["message"]
    # Even alongside a good header.
    response = Client().get(
        API, {param: admin_key[1]}, headers={"Authorization": f"Bearer {admin_key[1]}"}
    )
    assert response.status_code == 401


def test_a_key_prefix_in_the_query_string_is_a_search_not_a_credential(admin_key):
    prefix = admin_key[0].prefix
    response = Client().get(API, {"q": prefix}, headers={"Authorization": f"Bearer {admin_key[1]}"})
    assert response.status_code == 200
    assert [k["id"] for k in response.json()["data"]] == [str(admin_key[0].pk)]
    # One character of the secret more, and it is refused as a key in the URL.
    response = Client().get(API, {"q": admin_key[1][: len(prefix) + 1]})
    assert response.status_code == 401


def test_rejections_log_the_prefix_but_never_the_secret(tenant, admin_key, caplog):
    forged = with_secret(admin_key[0], "y" * keyformat.SECRET_LEN)
    key, secret = mint_admin_key(tenant, name="gone")
    services.revoke_key(tenant, Actor.system("tests"), key)
    with caplog.at_level(logging.DEBUG):
        get(Authorization=f"Bearer {forged}")
        get(Authorization=f"Bearer {secret}")
        get(Authorization="Bearer lmk_short")
    assert admin_key[0].prefix in caplog.text
    assert key.prefix in caplog.text
    assert forged not in caplog.text and secret not in caplog.text
    assert forged[len(admin_key[0].prefix) :] not in caplog.text


# --- session auth on the JSON API ------------------------------------------------------------


@pytest.fixture
def csrf_client(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


def test_a_session_reads_the_json_api_without_a_token(csrf_client, tenant):
    response = csrf_client.get(API)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_session_needs_the_csrf_token_to_write_through_the_json_api(csrf_client, tenant):
    refused = csrf_client.post(API, '{"name": "ci"}', content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert not tenant.api_keys.exists()

    csrf_client.get(PAGE)  # the page sets the CSRF cookie
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(
        API, '{"name": "ci"}', content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201
    assert response.json()["createdBy"]["type"] == "user"


def test_portal_form_posts_need_the_csrf_token(csrf_client, tenant):
    assert csrf_client.post(PAGE, {"name": "ci"}).status_code == 403
    assert not tenant.api_keys.exists()


def test_an_api_key_needs_no_csrf_token(tenant, admin_key):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        API,
        '{"name": "ci"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin_key[1]}"},
    )
    assert response.status_code == 201


# --- client IP and allowlists ----------------------------------------------------------------


@pytest.fixture
def trusted_proxies():
    """Set TRUSTED_PROXIES for one test (the parsed networks are cached)."""

    def apply(networks):
        ctx = override_settings(TRUSTED_PROXIES=networks)
        ctx.enable()
        proxies.trusted_networks.cache_clear()
        applied.append(ctx)

    applied = []
    yield apply
    for ctx in applied:
        ctx.disable()
    proxies.trusted_networks.cache_clear()


@pytest.fixture
def pinned_key(tenant):
    return mint_admin_key(tenant, name="pinned", allowed_ips=["203.0.113.7/32"])


def call_from(secret, remote, forwarded=None):
    headers = {"Authorization": f"Bearer {secret}"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    return Client(REMOTE_ADDR=remote).get(API, headers=headers)


def test_a_request_from_outside_the_allowlist_is_403_and_audited(tenant, pinned_key):
    response = call_from(pinned_key[1], "198.51.100.1")
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert rejections(tenant).get().metadata["reason"] == "ip_not_allowed"
    assert call_from(pinned_key[1], "203.0.113.7").status_code == 200


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(tenant, pinned_key, trusted_proxies):
    trusted_proxies([])
    assert call_from(pinned_key[1], "10.0.0.5", "203.0.113.7").status_code == 403
    trusted_proxies(["192.168.0.0/16"])
    assert call_from(pinned_key[1], "10.0.0.5", "203.0.113.7").status_code == 403


def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(tenant, pinned_key, trusted_proxies):
    trusted_proxies(["10.0.0.0/8"])
    assert call_from(pinned_key[1], "10.0.0.5", "203.0.113.7").status_code == 200
    usage.flush()
    key = ApiKey.objects.get(pk=pinned_key[0].pk)
    assert key.last_used_ip == "203.0.113.7"


def test_a_client_cannot_spoof_its_address_through_a_trusted_proxy(pinned_key, trusted_proxies):
    trusted_proxies(["10.0.0.0/8"])
    # The client sent "203.0.113.7" itself; the proxy appended the real address.
    assert call_from(pinned_key[1], "10.0.0.5", "203.0.113.7, 198.51.100.9").status_code == 403


def test_client_ip_walks_trusted_hops_from_the_right(trusted_proxies):
    trusted_proxies(["10.0.0.0/8", "172.16.0.0/12"])
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9, 172.16.0.1"
    )
    assert credentials.client_ip(request) == "198.51.100.9"
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert credentials.client_ip(request) == "198.51.100.1"


def test_ipv4_mapped_ipv6_matches_the_ipv4_allowlist(pinned_key):
    assert call_from(pinned_key[1], "::ffff:203.0.113.7").status_code == 200
