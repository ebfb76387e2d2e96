"""The nine open doors of issue 15, each tried from outside (SPEC §10 "Every door checks the
same rules", "A token is not its key", "Input at the OAuth doors"; §5's system actor)."""

import sys
from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client

from tests.access.conftest import (
    FENCE,
    INSIDE,
    agent_row,
    api_url,
    call,
    key_row,
    later,
    spend_budget,
)

pytestmark = pytest.mark.django_db

OUTSIDE = "198.51.100.7"
TOKEN_URL = api_url("acme-corp", "oauth/token")


def reused(tenant):
    return tenant.audit_events.filter(action="oauth.refresh_token_reused").exists()


# --- 1. a refresh checks the minting key and its agent -------------------------------------


def fence(world, whose, allowed):
    """Set the allowlist of the agent's key (`whose="key"`) or of the agent itself."""
    rows = key_row(world.agent_key_id) if whose == "key" else agent_row(world.agent_id)
    rows.update(allowed_ips=allowed)


@pytest.mark.parametrize("whose", ["key", "agent"])
def test_refresh_from_outside_an_allowlist_is_403_forbidden(world, whose):
    issued = world.token()
    fence(world, whose, FENCE)
    response = world.refresh(issued["refresh_token"], ip=OUTSIDE)
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"


def test_refresh_from_inside_both_allowlists_is_served(world):
    issued = world.token()
    fence(world, "key", ["10.0.0.0/8"])
    fence(world, "agent", ["10.1.0.0/16"])
    assert world.refresh(issued["refresh_token"], ip=INSIDE).status_code == 200


def test_refresh_after_the_key_was_revoked_is_invalid_grant(world):
    issued = world.token()
    world.admin("post", f"api-keys/{world.agent_key_id}/revoke")
    response = world.refresh(issued["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_refresh_after_the_key_expired_is_invalid_grant(world):
    issued = world.token()
    key_row(world.agent_key_id).update(expires_at=later(-1))
    response = world.refresh(issued["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_refresh_of_an_inactive_agent_is_invalid_grant(world):
    issued = world.token()
    agent_row(world.agent_id).update(is_active=False)
    response = world.refresh(issued["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


# --- 2. a token is not its key: manage:self ------------------------------------------------


def rotate(credential):
    return call("post", api_url("acme-corp", "agents/me/rotate"), credential=credential, body={})


def deactivate(credential):
    return call(
        "post", api_url("acme-corp", "agents/me/deactivate"), credential=credential, body={}
    )


def test_a_token_without_manage_self_may_not_rotate_the_agents_key(world):
    token = world.token()["access_token"]
    response = rotate(token)
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"
    # Nothing was rotated: the key still authenticates.
    assert world.me(world.agent_secret).status_code == 200


def test_a_token_without_manage_self_may_not_deactivate_the_agent(world):
    token = world.token()["access_token"]
    response = deactivate(token)
    assert response.status_code == 403, response.content
    assert response.json()["error"] == "forbidden"
    assert agent_row(world.agent_id).get().is_active


def test_a_token_by_default_does_not_carry_manage_self_even_if_the_agent_holds_it(world):
    world.admin(
        "patch", f"agents/{world.agent_id}", {"permissions": ["read:reports", "manage:self"]}
    )
    issued = world.token()
    assert issued["scope"].split() == ["read:reports"]
    assert rotate(issued["access_token"]).status_code == 403


def test_a_token_that_named_manage_self_may_rotate(world):
    issued = world.token(scope="read:reports manage:self")
    assert "manage:self" in issued["scope"].split()
    response = rotate(issued["access_token"])
    assert response.status_code == 201, response.content
    assert response.json()["apiKey"] != world.agent_secret


def test_a_token_that_named_manage_self_may_deactivate(world):
    issued = world.token(scope="manage:self")
    response = deactivate(issued["access_token"])
    assert response.status_code == 200, response.content
    assert not agent_row(world.agent_id).get().is_active


def test_the_key_itself_may_always_rotate_and_deactivate(world):
    response = rotate(world.agent_secret)
    assert response.status_code == 201, response.content
    new_secret = response.json()["apiKey"]
    assert deactivate(new_secret).status_code == 200


def register(world, scope):
    return call(
        "post",
        api_url("acme-corp", "oauth/register"),
        credential=world.setup,
        body={"client_name": "registered", "scope": scope},
    )


def default_token(client):
    response = call(
        "post",
        TOKEN_URL,
        body={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_a_registered_clients_default_token_does_not_carry_manage_self(world):
    client = register(world, "read:reports").json()
    issued = default_token(client)
    assert "manage:self" not in issued["scope"].split()
    assert rotate(issued["access_token"]).status_code == 403


def test_registration_does_not_hand_out_manage_self_by_default(world):
    """Registering `manage:self` in the client's scope either is refused or does not put it in
    a default token: either way no token gets it without naming it."""
    response = register(world, "read:reports manage:self")
    if response.status_code == 400:
        assert response.json()["error"] == "invalid_client_metadata"
        return
    assert response.status_code == 201, response.content
    issued = default_token(response.json())
    assert "manage:self" not in issued["scope"].split()
    assert rotate(issued["access_token"]).status_code == 403


# --- 3. deactivation revokes tokens; activation revives none -------------------------------


def test_deactivate_then_activate_leaves_the_old_tokens_dead(world):
    issued = world.token()
    world.admin("post", f"agents/{world.agent_id}/deactivate")
    world.admin("post", f"agents/{world.agent_id}/activate")
    # The agent is back: its key works, and it can get new tokens.
    assert world.me(world.agent_secret).status_code == 200
    assert world.me(world.token()["access_token"]).status_code == 200
    # What it held before the deactivation does not come back.
    assert world.me(issued["access_token"]).status_code == 401
    refreshed = world.refresh(issued["refresh_token"])
    assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")


def test_deactivation_by_the_agent_itself_also_ends_its_tokens(world):
    issued = world.token()
    assert deactivate(world.agent_secret).status_code == 200
    world.admin("post", f"agents/{world.agent_id}/activate")
    assert world.me(issued["access_token"]).status_code == 401


# --- 4. whether a key was rotated is the rotation's record, not the reason's text ----------


def test_revoking_with_reason_rotated_is_a_revoke_and_ends_the_tokens(world):
    issued = world.token()
    world.admin("post", f"api-keys/{world.agent_key_id}/revoke", {"reason": "rotated"})
    assert world.me(issued["access_token"]).status_code == 401
    assert world.refresh(issued["refresh_token"]).status_code == 400


def test_revoking_a_key_in_its_grace_period_with_reason_rotated_ends_its_tokens(world):
    """A rotation with grace marks the old key as rotated; a direct revoke of that key later,
    whatever its reason says, is a revoke (§10: only a rotation keeps tokens alive)."""
    issued = world.token()
    world.admin("post", f"api-keys/{world.agent_key_id}/rotate", {"gracePeriod": 3600})
    assert world.me(issued["access_token"]).status_code == 200  # the rotation keeps them
    world.admin("post", f"api-keys/{world.agent_key_id}/revoke", {"reason": "rotated"})
    assert world.me(issued["access_token"]).status_code == 401


def test_a_rotation_keeps_the_tokens_the_old_key_minted(world):
    issued = world.token()
    world.admin("post", f"api-keys/{world.agent_key_id}/rotate", {"gracePeriod": 0})
    assert world.me(issued["access_token"]).status_code == 200


def test_a_leak_report_of_a_key_revoked_by_rotation_ends_the_tokens_it_minted(world):
    issued = world.token()
    world.admin("post", f"api-keys/{world.agent_key_id}/rotate", {"gracePeriod": 0})
    report = call("post", "/api/v1/credentials/revoke", body={"credentials": [world.agent_secret]})
    assert report.status_code == 202, report.content
    assert world.me(issued["access_token"]).status_code == 401
    assert world.refresh(issued["refresh_token"]).status_code == 400


# --- 5. OAuth client authentication failures are audited ------------------------------------


def rejections(tenant, key_id):
    return tenant.audit_events.filter(action="api_key.rejected", target_id=key_id)


def test_client_authentication_with_a_revoked_key_is_audited_in_its_tenant(world, tenant):
    world.admin("post", f"api-keys/{world.agent_key_id}/revoke")
    response = world.ask_token()
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    events = rejections(tenant, world.agent_key_id)
    assert events.count() == 1
    assert events.get().metadata["reason"] == "revoked"
    assert world.agent_secret not in str(events.get().metadata)


def test_client_authentication_from_outside_the_allowlist_is_audited(world, tenant):
    agent_row(world.agent_id).update(allowed_ips=FENCE)
    response = world.ask_token(ip=OUTSIDE)
    assert response.status_code == 403
    assert rejections(tenant, world.agent_key_id).get().metadata["reason"] == "ip_not_allowed"


def test_client_authentication_with_a_revoked_key_on_revoke_is_audited_too(world, tenant):
    world.admin("post", f"api-keys/{world.agent_key_id}/revoke")
    response = call(
        "post",
        api_url("acme-corp", "oauth/revoke"),
        body={"token": "x", "client_id": world.agent_id, "client_secret": world.agent_secret},
    )
    assert response.status_code == 401
    assert rejections(tenant, world.agent_key_id).exists()


# --- 6. registration has agent creation's limits; a token request is linear in its scope -----


def permissions(count, length=None):
    if length is None:
        return [f"read:thing-{i}" for i in range(count)]
    return ["read:" + str(i).rjust(length - 5, "x") for i in range(count)]


def test_registration_with_201_permissions_is_invalid_client_metadata(world):
    response = register(world, " ".join(permissions(201)))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_client_metadata"


def test_registration_with_a_permission_of_201_characters_is_invalid_client_metadata(world):
    response = register(world, " ".join(permissions(1, length=201)))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_client_metadata"


def test_registration_at_the_limits_is_accepted(world):
    scope = permissions(199) + permissions(1, length=200)
    response = register(world, " ".join(scope))
    assert response.status_code == 201, response.content


class CallCounter:
    """Counts Python function calls by code object while active (no clock involved)."""

    def __init__(self):
        self.calls = Counter()

    def _profile(self, frame, event, arg):
        if event == "call":
            self.calls[frame.f_code] += 1

    def __enter__(self):
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)

    def busiest(self):
        code, count = self.calls.most_common(1)[0]
        return count, f"{code.co_filename}:{code.co_firstlineno} {code.co_name}"


def test_a_token_request_does_work_linear_in_its_scope(world):
    """200 permissions, all asked for: no function runs anywhere near 200 × 200 times (§10:
    "the work of a token request grows linearly with its scope")."""
    scope = permissions(200)
    response = world.admin("post", "agents", {"name": "wide-bot", "permissions": scope})
    agent = response.json()
    body = {
        "grant_type": "client_credentials",
        "client_id": agent["id"],
        "client_secret": agent["apiKey"],
        "scope": " ".join(scope),
    }
    assert call("post", TOKEN_URL, body=body).status_code == 200  # warm: first-use work done
    with CallCounter() as counter:
        response = call("post", TOKEN_URL, body=body)
    assert response.status_code == 200, response.content
    assert len(response.json()["scope"].split()) == 200
    count, where = counter.busiest()
    # Linear work calls a per-permission function a small multiple of 200 times; pairing each
    # requested permission with each held one calls it 40,000 times.
    assert count <= 20 * len(scope), f"{where} ran {count} times for a scope of 200"


# --- 7. a refused refresh spends nothing ----------------------------------------------------


def test_a_refresh_refused_by_the_allowlist_leaves_the_refresh_token_unspent(world, tenant):
    issued = world.token()
    agent_row(world.agent_id).update(allowed_ips=["10.0.0.0/8"])
    refused = world.refresh(issued["refresh_token"], ip=OUTSIDE)
    assert refused.status_code == 403, refused.content
    retried = world.refresh(issued["refresh_token"], ip=INSIDE)
    assert retried.status_code == 200, retried.content
    assert not reused(tenant)
    assert world.me(issued["access_token"]).status_code == 200  # the family lives on


def test_a_refresh_refused_by_the_rate_limit_leaves_the_refresh_token_unspent(world, tenant):
    issued = world.token()
    key_row(world.agent_key_id).update(rate_limit_per_minute=1)
    spend_budget(world.agent_secret, "agents/me")
    refused = world.refresh(issued["refresh_token"])
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"] == "rate_limited"
    key_row(world.agent_key_id).update(rate_limit_per_minute=None)  # the budget is back
    retried = world.refresh(issued["refresh_token"])
    assert retried.status_code == 200, retried.content
    assert not reused(tenant)
    assert world.me(issued["access_token"]).status_code == 200


# --- 8. each requested scope must match the permission format -------------------------------


# A wildcard lets any resource through the access-set check, so only the format check stands
# between the scope and the token's claims and rows.
@pytest.fixture
def wild(world):
    """(client_id, client_secret) of an agent holding `read:*`."""
    made = world.admin("post", "agents", {"name": "wild-bot", "permissions": ["read:*"]}).json()
    return made["id"], made["apiKey"]


BAD_SCOPES = {
    # (body type, the scope as written in that body)
    "json-nul": ("json", '"read:reports\\u0000"'),
    "json-nul-alone": ("json", '"\\u0000"'),
    "json-lone-surrogate": ("json", '"read:reports read:\\ud800"'),
    "json-lone-surrogate-in-a-permission": ("json", '"read:rep\\udfffrts"'),
    "form-nul": ("form", "read%3Areports%00"),
    "form-nul-alone": ("form", "%00"),
    # A surrogate's UTF-8-style bytes: not UTF-8, so never a permission whatever they decode to.
    "form-surrogate-bytes": ("form", "read%3Areports%ED%A0%80"),
}


def ask_with_scope(client, kind, scope):
    """A client-credentials request whose body (JSON or form) carries `scope` verbatim."""
    client_id, secret = client
    if kind == "form":
        raw = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        return call_raw(f"{raw}&scope={scope}", "application/x-www-form-urlencoded")
    raw = (
        '{"grant_type": "client_credentials", '
        f'"client_id": "{client_id}", "client_secret": "{secret}", "scope": {scope}}}'
    )
    return call_raw(raw, "application/json")


@pytest.mark.parametrize(("kind", "scope"), list(BAD_SCOPES.values()), ids=list(BAD_SCOPES))
def test_a_scope_with_a_nul_or_a_lone_surrogate_is_invalid_scope(wild, kind, scope):
    response = ask_with_scope(wild, kind, scope)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("kind", "scope"), [("json", '"read:reports"'), ("form", "read%3Areports")]
)
def test_a_wildcard_covers_a_scope_in_the_permission_format(wild, kind, scope):
    response = ask_with_scope(wild, kind, scope)
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "read:reports"


def call_raw(raw, content_type):
    return Client().post(
        TOKEN_URL,
        raw.encode("utf-8", "surrogatepass"),
        content_type=content_type,
        REMOTE_ADDR=INSIDE,
    )


# --- 9. the system actor is "system" everywhere ---------------------------------------------


def test_createtenant_is_audited_as_the_system(db):
    from tenants.models import Tenant

    call_command(
        "createtenant",
        "initech",
        name="Initech",
        owner="boss@initech.test",
        password="correct horse battery staple",
    )
    tenant = Tenant.objects.get(slug="initech")
    events = list(tenant.audit_events.values_list("action", "actor_type", "actor_name"))
    assert events, "createtenant left no audit event"
    assert {actor_type for _, actor_type, _ in events} == {"system"}, events


def test_mintkey_is_audited_as_the_system(tenant, capsys):
    call_command("mintkey", "acme-corp", name="ci")
    event = tenant.audit_events.get(action="api_key.created")
    assert (event.actor_type, event.actor_name) == ("system", "manage.py mintkey")


def test_the_dormancy_policy_is_audited_as_the_system(world, tenant):
    world.admin("patch", "settings", {"dormantKeyDays": 1})
    key_row(world.admin_id).update(created_at=later(-3 * 24 * 60), last_used_at=None)
    call_command("runworker", "--until-idle")
    event = tenant.audit_events.get(action="api_key.deprecated", target_id=world.admin_id)
    assert (event.actor_type, event.actor_name) == ("system", "dormancy policy")
