"""Per-key permissions (SPEC §15): what an agent key may do is its own list intersected with its
agent's access set at the time of use, shown by /keys/verify, tokens and /agents/me."""

import pytest

from access.rules import narrow
from tests.guardrails.conftest import me, token, verify

pytestmark = pytest.mark.django_db


def test_a_key_minted_with_permissions_is_narrowed_to_them(api, bot, admin_call):
    minted = admin_call(
        "post", f"agents/{bot['id']}/keys", {"name": "reports", "permissions": ["read:reports"]}
    )
    assert minted["permissions"] == ["read:reports"]
    answer = verify(api, minted["apiKey"], "read:invoices")
    assert (answer["valid"], answer["code"]) == (False, "INSUFFICIENT_PERMISSIONS")
    assert answer["permissions"] == ["read:reports"]
    assert verify(api, minted["apiKey"], "read:reports")["code"] == "VALID"
    # The agent's first key, with no list of its own, keeps the whole access set.
    assert verify(api, bot["apiKey"], "read:invoices")["code"] == "VALID"


def test_taking_a_role_from_the_agent_narrows_the_key_everywhere(api, bot, admin_call):
    """Verify, a token minted after and /agents/me all show the intersection at time of use."""
    minted = admin_call(
        "post",
        f"agents/{bot['id']}/keys",
        {"name": "both", "permissions": ["read:reports", "read:invoices"]},
    )
    secret = minted["apiKey"]
    assert verify(api, secret)["permissions"] == ["read:invoices", "read:reports"]
    assert me(secret)["keyPermissions"] == ["read:invoices", "read:reports"]

    admin_call("patch", f"agents/{bot['id']}", {"roles": ["report-reader"]})

    answer = verify(api, secret, "read:invoices")
    assert (answer["code"], answer["permissions"]) == ("INSUFFICIENT_PERMISSIONS", ["read:reports"])
    assert me(secret)["keyPermissions"] == ["read:reports"]
    issued = token(bot["id"], secret)
    assert issued.status_code == 200, issued.content
    assert issued.json()["scope"] == "read:reports"
    wider = token(bot["id"], secret, scope="read:invoices")
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")


def test_a_token_never_gets_more_than_its_key(api, bot, admin_call):
    minted = admin_call(
        "post", f"agents/{bot['id']}/keys", {"name": "r", "permissions": ["read:reports"]}
    )
    assert token(bot["id"], minted["apiKey"]).json()["scope"] == "read:reports"
    asked = token(bot["id"], minted["apiKey"], scope="read:invoices")
    assert (asked.status_code, asked.json()["error"]) == (400, "invalid_scope")


def test_a_key_permission_outside_the_access_set_grants_nothing(api, bot, admin_call):
    minted = admin_call(
        "post", f"agents/{bot['id']}/keys", {"name": "w", "permissions": ["write:payments"]}
    )
    answer = verify(api, minted["apiKey"], "write:payments")
    assert (answer["code"], answer["permissions"]) == ("INSUFFICIENT_PERMISSIONS", [])
    assert me(minted["apiKey"])["keyPermissions"] == []


def test_patch_sets_and_clears_a_keys_permissions(api, bot, admin_call):
    key_id = bot["keys"][0]["id"]
    patched = admin_call("patch", f"api-keys/{key_id}", {"permissions": ["read:reports"]})
    assert patched["permissions"] == ["read:reports"]
    assert verify(api, bot["apiKey"])["permissions"] == ["read:reports"]
    cleared = admin_call("patch", f"api-keys/{key_id}", {"permissions": None})
    assert cleared["permissions"] is None
    assert verify(api, bot["apiKey"])["permissions"] == ["read:invoices", "read:reports"]


def test_rotation_carries_the_list_over(api, bot, admin_call):
    key_id = bot["keys"][0]["id"]
    admin_call("patch", f"api-keys/{key_id}", {"permissions": ["read:reports"]})
    rotated = admin_call("post", f"api-keys/{key_id}/rotate", {})
    assert rotated["permissions"] == ["read:reports"]
    assert verify(api, rotated["apiKey"])["permissions"] == ["read:reports"]


def test_the_agents_first_key_may_be_narrowed_at_creation(api, admin_call, tenant):
    made = admin_call(
        "post",
        "agents",
        {"name": "narrow-bot", "permissions": ["read:a", "read:b"], "keyPermissions": ["read:a"]},
    )
    assert made["keys"][0]["permissions"] == ["read:a"]
    assert verify(api, made["apiKey"])["permissions"] == ["read:a"]


def test_an_admin_key_carries_no_permissions(api, admin_key):
    response = api.patch(
        f"/t/acme-corp/api/v1/admin/api-keys/{admin_key[0].pk}", {"permissions": []}
    )
    assert response.status_code == 400
    assert "permissions" in response.json()["details"]


def test_malformed_permissions_are_refused(api, bot):
    response = api.post(
        f"/t/acme-corp/api/v1/admin/agents/{bot['id']}/keys",
        {"name": "bad", "permissions": ["not a permission"]},
    )
    assert response.status_code == 400
    assert "permissions" in response.json()["details"]


def entries(*pairs):
    return [{"permission": p, "source": s, "expiresAt": None} for p, s in pairs]


def test_wildcards_intersect_both_ways():
    access = entries(("read:*", "role"), ("write:tickets", "direct"))
    assert {e["permission"] for e in narrow(access, ["read:reports", "write:*"])} == {
        "read:reports",
        "write:tickets",
    }
    assert narrow(access, None) == access
    assert narrow(access, []) == []


def test_verifying_a_narrowed_key_with_a_quota_is_still_one_query(
    api, bot, admin_call, django_assert_num_queries
):
    """The key's permissions and quota, and its agent's, come in the lookup's one statement."""
    admin_call("patch", f"agents/{bot['id']}", {"quota": {"limit": 100, "period": "day"}})
    minted = admin_call(
        "post",
        f"agents/{bot['id']}/keys",
        {"name": "r", "permissions": ["read:reports"], "quota": {"limit": 10, "period": "month"}},
    )
    verify(api, minted["apiKey"])
    with django_assert_num_queries(1):
        answer = verify(api, minted["apiKey"], "read:invoices")
    assert (answer["code"], answer["permissions"]) == ("INSUFFICIENT_PERMISSIONS", ["read:reports"])
