"""POST /keys/verify answers 200 with one `code` per outcome (SPEC §6a): every code is here."""

import datetime as dt

import pytest
from django.utils import timezone

from access import keyformat
from apikeys.models import ApiKey
from apikeys.services import ADMIN_SCOPES, deprecate_key, revoke_key
from tests.conftest import mint_admin_key
from tests.spec import VERIFY_FIELDS as FIELDS
from tests.verify.conftest import SYSTEM, make_agent, mint_agent_key

pytestmark = pytest.mark.django_db

NOTHING_KNOWN = {
    "valid": False,
    "code": "NOT_FOUND",
    "keyId": None,
    "agentId": None,
    "agent": None,
    "permissions": [],
    "deprecated": False,
    "expiresAt": None,
    "meta": {},
}


def test_valid_agent_key_answers_identity_and_merged_access_set(verify, agent, agent_key):
    key, secret = agent_key
    response = verify({"key": secret})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert body["valid"] is True
    assert body["code"] == "VALID"
    assert body["keyId"] == str(key.pk)
    assert body["agentId"] == str(agent.pk)
    assert body["agent"] == {"id": str(agent.pk), "name": "report-bot", "type": "ai_assistant"}
    # role ∪ direct ∪ unexpired grants; the expired grant (read:payroll) is not there
    assert body["permissions"] == ["read:invoices", "read:reports", "write:tickets"]
    assert body["deprecated"] is False
    assert body["expiresAt"] is None


@pytest.mark.parametrize("permission", ["read:reports", "write:tickets", "read:invoices"])
def test_permission_from_role_direct_or_grant_is_valid(verify, agent_key, permission):
    body = verify({"key": agent_key[1], "permission": permission}).json()
    assert (body["valid"], body["code"]) == (True, "VALID")


@pytest.mark.parametrize("permission", ["write:reports", "read:payroll", "delete:everything"])
def test_permission_outside_access_set_is_insufficient(verify, agent_key, permission):
    """Including a permission only held through an expired grant."""
    body = verify({"key": agent_key[1], "permission": permission}).json()
    assert body["valid"] is False
    assert body["code"] == "INSUFFICIENT_PERMISSIONS"
    assert body["keyId"] == str(agent_key[0].pk)
    assert "read:reports" in body["permissions"]


def test_wildcard_permission_in_access_set_matches(verify, tenant):
    agent = make_agent(tenant, name="wild", permissions=["read:reports/*"])
    _, secret = mint_agent_key(tenant, agent)
    body = verify({"key": secret, "permission": "read:reports/q3"}).json()
    assert body["code"] == "VALID"
    assert verify({"key": secret, "permission": "read:invoices"}).json()["code"] == (
        "INSUFFICIENT_PERMISSIONS"
    )


def test_unknown_key_is_not_found(verify):
    unknown = keyformat.generate("agent").full
    assert verify({"key": unknown}).json() == NOTHING_KNOWN


@pytest.mark.parametrize("raw", ["", "nope", "lmk_short", "x" * 1000])
def test_malformed_key_is_not_found_or_rejected(verify, raw):
    response = verify({"key": raw})
    if raw == "":
        assert response.status_code == 400  # the key is required
    else:
        assert response.status_code == 200
        assert response.json() == NOTHING_KNOWN


def test_key_with_a_mistyped_character_is_not_found(verify, agent_key):
    secret = agent_key[1]
    typo = secret[:-10] + ("a" if secret[-10] != "a" else "b") + secret[-9:]
    assert verify({"key": typo}).json() == NOTHING_KNOWN


def test_key_with_valid_checksum_but_wrong_secret_is_not_found(verify, agent_key):
    key, secret = agent_key
    body = secret[: -keyformat.CHECKSUM_LEN]
    forged_body = body[:-1] + ("a" if body[-1] != "a" else "b")
    forged = forged_body + keyformat.checksum(forged_body)
    assert keyformat.parse(forged) is not None
    assert verify({"key": forged}).json() == NOTHING_KNOWN


def test_key_of_another_tenant_is_not_found_and_reveals_nothing(verify, other_tenant):
    theirs = make_agent(other_tenant, name="their-bot", permissions=["read:reports"])
    _, secret = mint_agent_key(other_tenant, theirs)
    assert verify({"key": secret, "permission": "read:reports"}).json() == NOTHING_KNOWN


def test_admin_key_of_another_tenant_is_not_found(verify, other_tenant):
    _, secret = mint_admin_key(other_tenant)
    assert verify({"key": secret}).json() == NOTHING_KNOWN


def test_revoked_key_is_revoked(verify, tenant, agent_key):
    key, secret = agent_key
    revoke_key(tenant, SYSTEM, key)
    body = verify({"key": secret}).json()
    assert (body["valid"], body["code"], body["keyId"]) == (False, "REVOKED", str(key.pk))
    assert body["permissions"] == []


def test_expired_key_is_expired(verify, agent_key):
    key, secret = agent_key
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    body = verify({"key": secret}).json()
    assert (body["valid"], body["code"]) == (False, "EXPIRED")
    assert body["expiresAt"] is not None


def test_key_of_inactive_agent_is_disabled(verify, agent, agent_key):
    agent.is_active = False
    agent.save()
    body = verify({"key": agent_key[1]}).json()
    assert (body["valid"], body["code"], body["agentId"]) == (False, "DISABLED", str(agent.pk))
    assert body["permissions"] == []


def test_key_of_expired_agent_is_disabled(verify, agent, agent_key):
    agent.expires_at = timezone.now() - dt.timedelta(minutes=1)
    agent.save()
    assert verify({"key": agent_key[1]}).json()["code"] == "DISABLED"


def test_ip_outside_agent_allowlist_is_not_allowed(verify, agent, agent_key):
    agent.allowed_ips = ["10.0.0.0/8"]
    agent.save()
    body = verify({"key": agent_key[1], "ip": "192.168.1.5"}).json()
    assert (body["valid"], body["code"]) == (False, "IP_NOT_ALLOWED")
    assert verify({"key": agent_key[1], "ip": "10.20.30.40"}).json()["code"] == "VALID"


def test_ip_outside_key_allowlist_is_not_allowed(verify, tenant, agent):
    _, secret = mint_agent_key(tenant, agent, allowed_ips=["203.0.113.7/32"])
    assert verify({"key": secret, "ip": "203.0.113.8"}).json()["code"] == "IP_NOT_ALLOWED"
    assert verify({"key": secret, "ip": "203.0.113.7"}).json()["code"] == "VALID"


def test_ipv6_and_ipv4_mapped_addresses_are_checked(verify, tenant, agent):
    _, secret = mint_agent_key(tenant, agent, allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    assert verify({"key": secret, "ip": "::ffff:10.1.2.3"}).json()["code"] == "VALID"
    assert verify({"key": secret, "ip": "2001:db8::1"}).json()["code"] == "VALID"
    assert verify({"key": secret, "ip": "2001:db9::1"}).json()["code"] == "IP_NOT_ALLOWED"


def test_without_ip_the_allowlist_is_not_checked(verify, agent, agent_key):
    """The caller is the resource server, not the agent: its own address says nothing."""
    agent.allowed_ips = ["10.0.0.0/8"]
    agent.save()
    assert verify({"key": agent_key[1]}).json()["code"] == "VALID"


def test_key_over_its_own_rate_limit_is_rate_limited(verify, tenant, agent):
    _, secret = mint_agent_key(tenant, agent, rate_limit_per_minute=2)
    codes = [verify({"key": secret}).json()["code"] for _ in range(3)]
    assert codes == ["VALID", "VALID", "RATE_LIMITED"]
    body = verify({"key": secret}).json()
    assert body["valid"] is False
    assert body["keyId"] is not None


def test_deprecated_key_is_valid_and_flagged(verify, tenant, agent):
    key, secret = mint_agent_key(tenant, agent, expires_at=timezone.now() + dt.timedelta(days=2))
    deprecate_key(tenant, SYSTEM, key)
    body = verify({"key": secret}).json()
    assert (body["valid"], body["code"], body["deprecated"]) == (True, "VALID", True)
    assert body["expiresAt"].endswith("Z")


def test_admin_key_lists_its_scopes_as_permissions(verify, tenant):
    _, secret = mint_admin_key(tenant, "reader", scopes=["agents:write", "audit:read"])
    body = verify({"key": secret}).json()
    assert (body["code"], body["agent"], body["agentId"]) == ("VALID", None, None)
    assert body["permissions"] == ["agents:write", "audit:read"]
    # the admin API's rule: x:write implies x:read
    assert verify({"key": secret, "permission": "agents:read"}).json()["code"] == "VALID"
    assert verify({"key": secret, "permission": "roles:read"}).json()["code"] == (
        "INSUFFICIENT_PERMISSIONS"
    )


def test_full_admin_key_holds_every_admin_scope_and_nothing_else(verify, admin_key):
    body = verify({"key": admin_key[1]}).json()
    assert body["permissions"] == sorted(ADMIN_SCOPES)
    assert verify({"key": admin_key[1], "permission": "roles:write"}).json()["code"] == "VALID"
    assert verify({"key": admin_key[1], "permission": "read:reports"}).json()["code"] == (
        "INSUFFICIENT_PERMISSIONS"
    )


def test_checks_run_in_documented_order(verify, tenant, agent):
    """Revoked beats everything after it: a revoked key from a bad IP is REVOKED."""
    agent.allowed_ips = ["10.0.0.0/8"]
    agent.save()
    key, secret = mint_agent_key(tenant, agent)
    revoke_key(tenant, SYSTEM, key)
    assert verify({"key": secret, "ip": "8.8.8.8", "permission": "x:y"}).json()["code"] == (
        "REVOKED"
    )
