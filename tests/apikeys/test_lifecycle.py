"""Key lifecycle (SPEC §5): every transition, every 409, rotation with and without grace."""

import datetime as dt
from email.utils import parsedate_to_datetime
from unittest import mock

import pytest
from django.utils import timezone

from access.actor import Actor
from agents.models import Agent
from apikeys import services
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.conftest import mint_admin_key

API = "/t/acme-corp/api/v1/admin/api-keys"

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def parse_ts(value):
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def target(tenant):
    """(key, plaintext) of a key to act on, separate from the `api` client's own key."""
    return mint_admin_key(tenant, name="target")


def expire(key):
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))


def events(key, action):
    return AuditEvent.objects.filter(target_id=str(key.pk), action=action)


# --- deprecate ---------------------------------------------------------------------------


def test_deprecating_an_active_key_keeps_it_working_with_deprecation_headers(api, make_api, target):
    key, secret = target
    response = api.post(f"{API}/{key.pk}/deprecate")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "deprecated"
    deprecated_at = parse_ts(body["deprecatedAt"])
    assert abs(deprecated_at - timezone.now()) < dt.timedelta(seconds=10)
    assert events(key, "api_key.deprecated").count() == 1

    used = make_api(secret).get(API)
    assert used.status_code == 200
    key.refresh_from_db()
    assert used["Deprecation"] == f"@{int(key.deprecated_at.timestamp())}"
    assert "Sunset" not in used  # no expiry, no sunset


def test_deprecated_key_with_an_expiry_announces_the_sunset(api, make_api, tenant):
    expires = timezone.now() + dt.timedelta(days=3)
    key, secret = mint_admin_key(tenant, name="soon", expires_at=expires)
    api.post(f"{API}/{key.pk}/deprecate")
    used = make_api(secret).get(API)
    assert used["Sunset"].endswith(" GMT")
    assert parsedate_to_datetime(used["Sunset"]) == expires.replace(microsecond=0)


@pytest.mark.parametrize("state", ["deprecated", "revoked", "expired"])
def test_deprecating_a_key_that_is_not_active_is_409_and_changes_nothing(api, target, state):
    key, _ = target
    if state == "deprecated":
        key = services.deprecate_key(key.tenant, ACTOR, key)
    elif state == "revoked":
        key = services.revoke_key(key.tenant, ACTOR, key)
    else:
        expire(key)
    before = ApiKey.objects.values().get(pk=key.pk)
    audit_before = AuditEvent.objects.count()
    response = api.post(f"{API}/{key.pk}/deprecate")
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert ApiKey.objects.values().get(pk=key.pk) == before
    assert AuditEvent.objects.count() == audit_before


# --- activate ----------------------------------------------------------------------------


def test_activating_undoes_a_deprecation(api, make_api, target):
    key, secret = target
    services.deprecate_key(key.tenant, ACTOR, key)
    response = api.post(f"{API}/{key.pk}/activate")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["deprecatedAt"] is None
    assert "Deprecation" not in make_api(secret).get(API)
    assert events(key, "api_key.activated").count() == 1


@pytest.mark.parametrize("state", ["active", "revoked", "expired"])
def test_activating_a_key_that_is_not_deprecated_or_past_expiry_is_409(api, target, state):
    key, _ = target
    if state == "revoked":
        services.revoke_key(key.tenant, ACTOR, key)
    elif state == "expired":
        services.deprecate_key(key.tenant, ACTOR, key)
        expire(key)
    before = ApiKey.objects.values().get(pk=key.pk)
    response = api.post(f"{API}/{key.pk}/activate")
    assert response.status_code == 409
    assert ApiKey.objects.values().get(pk=key.pk) == before
    assert not events(key, "api_key.activated").exists()


# --- revoke ------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["active", "deprecated"])
def test_revoking_stops_the_key_at_once_and_records_the_reason(api, make_api, target, state):
    key, secret = target
    if state == "deprecated":
        services.deprecate_key(key.tenant, ACTOR, key)
    response = api.post(f"{API}/{key.pk}/revoke", {"reason": "leaked in CI logs"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "revoked"
    assert body["revokedAt"] is not None
    key.refresh_from_db()
    assert key.revoked_reason == "leaked in CI logs"
    assert events(key, "api_key.revoked").get().metadata["reason"] == "leaked in CI logs"
    assert make_api(secret).get(API).status_code == 401


def test_revoking_without_a_body_is_fine(api, target):
    key, _ = target
    assert api.post(f"{API}/{key.pk}/revoke").status_code == 200


def test_revoking_a_revoked_key_is_409(api, target):
    key, _ = target
    services.revoke_key(key.tenant, ACTOR, key, reason="first")
    response = api.post(f"{API}/{key.pk}/revoke", {"reason": "second"})
    assert response.status_code == 409
    key.refresh_from_db()
    assert key.revoked_reason == "first"


def test_an_expired_key_can_still_be_revoked_for_good(api, target):
    key, _ = target
    expire(key)
    assert api.post(f"{API}/{key.pk}/revoke").json()["status"] == "revoked"


def test_revoked_is_terminal(api, target):
    key, _ = target
    services.revoke_key(key.tenant, ACTOR, key)
    for action in ("deprecate", "activate", "revoke", "rotate"):
        assert api.post(f"{API}/{key.pk}/{action}").status_code == 409, action


# --- rotate ------------------------------------------------------------------------------


def test_rotating_immediately_revokes_the_old_key(api, make_api, target):
    key, secret = target
    response = api.post(f"{API}/{key.pk}/rotate")
    assert response.status_code == 201
    new = response.json()
    key.refresh_from_db()
    assert key.status == "revoked"
    assert key.revoked_reason == "rotated"
    assert str(key.replaced_by_id) == new["id"]
    assert make_api(secret).get(API).status_code == 401
    assert make_api(new["apiKey"]).get(API).status_code == 200


def test_rotating_with_grace_keeps_old_key_working_until_deadline(api, make_api, target):
    key, secret = target
    before = timezone.now()
    response = api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": 3600})
    after = timezone.now()
    assert response.status_code == 201
    old = api.get(f"{API}/{key.pk}").json()
    assert old["status"] == "deprecated"
    assert old["replacedById"] == response.json()["id"]
    deadline = parse_ts(old["expiresAt"])
    assert before + dt.timedelta(hours=1) - dt.timedelta(milliseconds=1) <= deadline
    assert deadline <= after + dt.timedelta(hours=1)

    # Still works now, flagged as deprecated with its sunset.
    used = make_api(secret).get(f"{API}/{key.pk}")
    assert used.status_code == 200
    assert used["Deprecation"].startswith("@")
    assert parsedate_to_datetime(used["Sunset"]) == deadline.replace(microsecond=0)

    # One second before the deadline it still works; at the deadline it does not.
    key.refresh_from_db()
    deadline = key.expires_at
    with mock.patch("django.utils.timezone.now", return_value=deadline - dt.timedelta(seconds=1)):
        assert make_api(secret).get(f"{API}/{key.pk}").status_code == 200
    with mock.patch("django.utils.timezone.now", return_value=deadline):
        assert make_api(secret).get(f"{API}/{key.pk}").status_code == 401
    with mock.patch("django.utils.timezone.now", return_value=deadline + dt.timedelta(days=1)):
        assert make_api(response.json()["apiKey"]).get(f"{API}/{key.pk}").status_code == 200


def test_a_grace_period_never_lengthens_a_keys_life(api, tenant):
    expires = timezone.now() + dt.timedelta(minutes=10)
    key, _ = mint_admin_key(tenant, name="short", expires_at=expires)
    api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": 86400})
    key.refresh_from_db()
    assert key.expires_at == expires


def test_rotation_keeps_name_scopes_rate_limit_allowlist_and_lifetime(api, tenant):
    created = timezone.now() - dt.timedelta(days=10)
    key, _ = mint_admin_key(
        tenant,
        name="nightly",
        scopes=["agents:read", "audit:read"],
        expires_at=timezone.now() + dt.timedelta(days=20),
        rate_limit_per_minute=42,
        allowed_ips=["127.0.0.0/8", "10.1.2.3/32"],
    )
    # A 30-day key minted ten days ago.
    ApiKey.objects.filter(pk=key.pk).update(
        created_at=created, expires_at=created + dt.timedelta(days=30)
    )
    new = api.post(f"{API}/{key.pk}/rotate").json()
    assert new["name"] == "nightly"
    assert new["scopes"] == ["agents:read", "audit:read"]
    assert new["rateLimitPerMinute"] == 42
    assert new["allowedIps"] == ["127.0.0.0/8", "10.1.2.3/32"]
    assert new["kind"] == "admin" and new["agentId"] is None
    assert new["rotatedFromId"] == str(key.pk)
    assert new["replacedById"] is None
    # The same lifetime, counted from the rotation.
    lifetime = parse_ts(new["expiresAt"]) - parse_ts(new["createdAt"])
    assert abs(lifetime - dt.timedelta(days=30)) <= dt.timedelta(milliseconds=1)
    assert abs(parse_ts(new["createdAt"]) - timezone.now()) < dt.timedelta(seconds=10)


def test_rotating_a_key_without_expiry_gives_a_key_without_expiry(api, target):
    key, _ = target
    assert api.post(f"{API}/{key.pk}/rotate").json()["expiresAt"] is None


def test_rotating_an_agent_key_keeps_its_agent(api, tenant):
    agent = Agent.objects.create(tenant=tenant, name="reporter")
    key, _ = services.mint_key(tenant, ACTOR, name="rk", agent=agent)
    new = api.post(f"{API}/{key.pk}/rotate").json()
    assert (new["kind"], new["agentId"], new["scopes"]) == ("agent", str(agent.pk), [])
    assert new["apiKey"].startswith("sk_agent_live_")


def test_a_deprecated_key_can_be_rotated(api, target):
    key, _ = target
    services.deprecate_key(key.tenant, ACTOR, key)
    assert api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": 60}).status_code == 201


@pytest.mark.parametrize("state", ["revoked", "rotated", "expired"])
def test_rotating_a_revoked_rotated_or_expired_key_is_409(api, target, state):
    key, _ = target
    if state == "revoked":
        services.revoke_key(key.tenant, ACTOR, key)
    elif state == "rotated":
        services.rotate_key(key.tenant, ACTOR, key, grace_period=3600)
    else:
        expire(key)
    keys_before = ApiKey.objects.count()
    response = api.post(f"{API}/{key.pk}/rotate")
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert ApiKey.objects.count() == keys_before


def test_rotation_is_audited_on_both_keys_without_the_secret(api, target):
    key, _ = target
    body = api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": 60}).json()
    rotated = events(key, "api_key.rotated").get()
    assert rotated.metadata["newKeyId"] == body["id"]
    assert rotated.metadata["gracePeriod"] == 60
    created = AuditEvent.objects.get(target_id=body["id"], action="api_key.created")
    assert created.metadata["rotatedFromIds"] == [str(key.pk)]
    assert body["apiKey"] not in str(rotated.metadata) + str(created.metadata)


def test_every_action_is_audited_with_its_actor(api, admin_key, target):
    key, _ = target
    api.post(f"{API}/{key.pk}/deprecate")
    api.post(f"{API}/{key.pk}/activate")
    api.post(f"{API}/{key.pk}/revoke")
    api.delete(f"{API}/{key.pk}")
    actions = list(
        AuditEvent.objects.filter(target_id=str(key.pk))
        .order_by("occurred_at")
        .values_list("action", "actor_type", "actor_id")
    )
    actor = ("api_key", str(admin_key[0].pk))
    assert actions == [
        ("api_key.created", "system", ""),
        ("api_key.deprecated", *actor),
        ("api_key.activated", *actor),
        ("api_key.revoked", *actor),
        ("api_key.deleted", *actor),
    ]


def test_delete_works_in_any_state(api, target):
    key, _ = target
    services.revoke_key(key.tenant, ACTOR, key)
    assert api.delete(f"{API}/{key.pk}").status_code == 204


def test_deleting_a_rotated_key_leaves_its_successor_working(api, make_api, target):
    key, _ = target
    new = api.post(f"{API}/{key.pk}/rotate", {"gracePeriod": 60}).json()
    assert api.delete(f"{API}/{key.pk}").status_code == 204
    successor = api.get(f"{API}/{new['id']}").json()
    assert successor["rotatedFromId"] is None
    assert make_api(new["apiKey"]).get(API).status_code == 200


# --- services directly -------------------------------------------------------------------


def test_services_refuse_a_grace_period_out_of_range(tenant, target):
    from portal.errors import Invalid

    key, _ = target
    for grace in (-1, 604801):
        with pytest.raises(Invalid):
            services.rotate_key(tenant, ACTOR, key, grace_period=grace)
    key.refresh_from_db()
    assert key.status == "active" and key.replaced_by_id is None


def test_services_act_only_within_the_tenant(tenant, other_tenant, target):
    from portal.errors import NotFound

    key, _ = target
    with pytest.raises(NotFound):
        services.revoke_key(other_tenant, ACTOR, key)
    key.refresh_from_db()
    assert key.status == "active"
