"""A verification is a use of the verified key: usage, lastUsed, rate limit, and audit."""

import pytest

from apikeys import usage
from apikeys.models import ApiKey, KeyUsage
from apikeys.services import revoke_key
from audit.models import AuditEvent
from tests.conftest import mint_admin_key
from tests.verify.conftest import SYSTEM, make_agent, mint_agent_key

pytestmark = pytest.mark.django_db


def test_verification_counts_as_a_use_of_the_verified_key(verify, agent, agent_key):
    key, secret = agent_key
    for _ in range(3):
        verify({"key": secret, "ip": "10.9.8.7"})
    usage.flush()
    assert KeyUsage.objects.get(key=key).count == 3
    key.refresh_from_db()
    agent.refresh_from_db()
    assert key.last_used_at is not None
    assert key.last_used_ip == "10.9.8.7"
    assert agent.last_used_at == key.last_used_at


def test_verification_without_ip_keeps_the_last_known_ip(verify, agent_key):
    key, secret = agent_key
    verify({"key": secret, "ip": "10.9.8.7"})
    usage.flush()
    verify({"key": secret})
    usage.flush()
    key.refresh_from_db()
    assert key.last_used_ip == "10.9.8.7"
    assert KeyUsage.objects.get(key=key).count == 2


def test_rejected_verifications_are_not_counted_as_uses(verify, tenant, agent_key):
    key, secret = agent_key
    revoke_key(tenant, SYSTEM, key)
    verify({"key": secret})
    usage.flush()
    assert not KeyUsage.objects.filter(key=key).exists()


def test_verifications_share_the_rate_limit_with_the_keys_own_requests(verify, make_api, tenant):
    key, secret = mint_admin_key(tenant, "limited", rate_limit_per_minute=3)
    assert make_api(secret).get("/t/acme-corp/api/v1/admin/api-keys").status_code == 200
    assert [verify({"key": secret}).json()["code"] for _ in range(3)] == [
        "VALID",
        "VALID",
        "RATE_LIMITED",
    ]
    assert make_api(secret).get("/t/acme-corp/api/v1/admin/api-keys").status_code == 429


def test_rate_limit_of_the_agent_applies_when_the_key_has_none(verify, tenant):
    agent = make_agent(tenant, name="slow-bot", rate_limit_per_minute=1)
    _, secret = mint_agent_key(tenant, agent)
    assert [verify({"key": secret}).json()["code"] for _ in range(2)] == ["VALID", "RATE_LIMITED"]


def test_caller_gets_its_own_rate_limit_headers(verify, admin_key, agent_key):
    response = verify({"key": agent_key[1]})
    assert response["RateLimit-Limit"] == "600"
    assert response["RateLimit-Remaining"] == "599"


def test_rejection_of_an_existing_key_is_audited_in_its_tenant(verify, tenant, agent_key):
    key, secret = agent_key
    revoke_key(tenant, SYSTEM, key)
    verify({"key": secret, "ip": "10.1.1.1"})
    event = AuditEvent.objects.get(action="api_key.rejected", target_id=str(key.pk))
    assert event.tenant_id == tenant.pk
    assert event.metadata["reason"] == "revoked"
    assert event.metadata["via"] == "verify"
    assert event.metadata["ip"] == "10.1.1.1"
    assert secret not in str(event.metadata)


def test_other_tenants_key_rejection_is_audited_in_the_keys_own_tenant(verify, other_tenant):
    theirs = make_agent(other_tenant, name="their-bot")
    key, secret = mint_agent_key(other_tenant, theirs)
    verify({"key": secret})
    event = AuditEvent.objects.get(action="api_key.rejected", target_id=str(key.pk))
    assert event.tenant_id == other_tenant.pk
    assert event.metadata["reason"] == "wrong_tenant"


def test_unknown_keys_are_not_audited(verify):
    verify({"key": "lmk_nothing"})
    assert not AuditEvent.objects.filter(action="api_key.rejected").exists()


def test_valid_agent_key_verification_costs_a_fixed_number_of_queries(
    verify, agent_key, django_assert_num_queries
):
    """The caller's key and the verified key with its tenant, agent, roles and grants: one
    statement, never a write."""
    verify({"key": agent_key[1]})
    with django_assert_num_queries(1) as ctx:
        verify({"key": agent_key[1], "permission": "read:reports", "ip": "10.0.0.1"})
    statements = [q["sql"].lstrip().removeprefix("QUERY = '") for q in ctx.captured_queries]
    assert all(sql.upper().startswith("SELECT") for sql in statements)


def test_key_deleted_between_verification_and_flush_is_dropped(verify, tenant, agent_key):
    key, secret = agent_key
    other, other_secret = mint_agent_key(tenant, key.agent, name="second")
    verify({"key": secret})
    verify({"key": other_secret})
    ApiKey.objects.filter(pk=key.pk).delete()
    assert usage.flush() == 3  # the caller's two uses and the surviving key's one
    assert KeyUsage.objects.get(key=other).count == 1
    assert usage.pending() == 0
