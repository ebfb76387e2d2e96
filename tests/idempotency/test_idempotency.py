"""`Idempotency-Key` on the creating endpoints (SPEC §15)."""

import datetime as dt

import pytest
from django.utils import timezone

from agents.models import Agent
from apikeys.models import ApiKey
from idempotency import services
from idempotency.models import IdempotencyKey
from tests.agents.conftest import ADMIN, make_agent
from tests.agents.test_concurrency import race
from tests.conftest import ApiClient, mint_admin_key, requires_postgres

pytestmark = pytest.mark.django_db


def idem(value):
    return {"headers": {"Idempotency-Key": value}}


def test_a_retry_replays_the_answer_without_the_secret_and_creates_nothing(api, tenant):
    first = api.post(f"{ADMIN}/agents", {"name": "bot"}, **idem("create-bot-1"))
    assert first.status_code == 201 and first.json()["apiKey"].startswith("sk_agent_live_")
    assert "Idempotent-Replayed" not in first
    again = api.post(f"{ADMIN}/agents", {"name": "bot"}, **idem("create-bot-1"))
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["apiKey"] is None
    assert {k: v for k, v in again.json().items() if k != "apiKey"} == {
        k: v for k, v in first.json().items() if k != "apiKey"
    }
    assert tenant.agents.count() == 1
    stored = IdempotencyKey.objects.get()
    assert first.json()["apiKey"] not in str(stored.body)


@pytest.mark.parametrize(
    ("path", "body", "secret_field"),
    [
        ("api-keys", {"name": "ci"}, "apiKey"),
        ("roles", {"name": "Support", "slug": "support"}, None),
        ("webhooks", {"url": "https://hooks.example.com/x"}, "secret"),
    ],
)
def test_other_creating_endpoints_replay(api, tenant, path, body, secret_field, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    first = api.post(f"{ADMIN}/{path}", body, **idem("k"))
    assert first.status_code == 201, first.content
    again = api.post(f"{ADMIN}/{path}", body, **idem("k"))
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    if secret_field:
        assert first.json()[secret_field] and again.json()[secret_field] is None
    assert again.json()["id" if "id" in first.json() else "slug"] == first.json().get(
        "id", first.json().get("slug")
    )


def test_agent_keys_and_grants_replay(api, tenant):
    agent = make_agent(tenant, name="m")[0]
    for path, body in (("keys", {"name": "k2"}), ("grants", {"permission": "read:x"})):
        url = f"{ADMIN}/agents/{agent.pk}/{path}"
        first = api.post(url, body, **idem(path))
        again = api.post(url, body, **idem(path))
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
    assert agent.keys.count() == 2 and agent.grants.count() == 1


def test_the_same_key_with_another_body_is_422(api, tenant):
    api.post(f"{ADMIN}/agents", {"name": "bot"}, **idem("k"))
    response = api.post(f"{ADMIN}/agents", {"name": "other"}, **idem("k"))
    assert response.status_code == 422
    assert response.json()["error"] == "unprocessable_entity"
    assert tenant.agents.count() == 1


def test_the_same_key_on_another_path_is_422(api, tenant):
    api.post(f"{ADMIN}/roles", {"name": "A"}, **idem("k"))
    assert api.post(f"{ADMIN}/api-keys", {"name": "A"}, **idem("k")).status_code == 422


def test_keys_are_scoped_to_the_credential(api, tenant):
    other = ApiClient(mint_admin_key(tenant, "other")[1])
    assert api.post(f"{ADMIN}/roles", {"name": "A"}, **idem("k")).status_code == 201
    response = other.post(f"{ADMIN}/roles", {"name": "B"}, **idem("k"))
    assert response.status_code == 201 and "Idempotent-Replayed" not in response


def test_a_running_first_request_makes_the_retry_409(api, tenant, admin_key):
    body = b'{"name": "bot"}'
    digest = services.request_hash("POST", f"{ADMIN}/agents", body)
    services.claim(tenant, f"key:{admin_key[0].pk}", "k", digest)
    response = api.post(f"{ADMIN}/agents", {"name": "bot"}, **idem("k"))
    assert response.status_code == 409 and response.json()["error"] == "conflict"
    assert not tenant.agents.exists()


@pytest.mark.parametrize("value", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_bad_header_value_is_400(api, tenant, value):
    response = api.post(f"{ADMIN}/roles", {"name": "A"}, **idem(value))
    assert response.status_code == 400
    assert not tenant.roles.exists()


def test_a_255_character_key_is_fine(api):
    assert api.post(f"{ADMIN}/roles", {"name": "A"}, **idem("~" * 255)).status_code == 201


def test_a_failed_request_frees_the_key(api, tenant):
    assert api.post(f"{ADMIN}/agents", {"name": ""}, **idem("k")).status_code == 400
    assert not IdempotencyKey.objects.exists()
    make_agent(tenant, name="taken")
    assert api.post(f"{ADMIN}/agents", {"name": "taken"}, **idem("k2")).status_code == 409
    assert not IdempotencyKey.objects.exists()


def test_after_24_hours_the_key_is_new_again_and_pruned(api, tenant):
    api.post(f"{ADMIN}/roles", {"name": "A"}, **idem("k"))
    IdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(hours=24, seconds=1))
    response = api.post(f"{ADMIN}/roles", {"name": "B"}, **idem("k"))
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert IdempotencyKey.objects.count() == 1


def test_prune_deletes_only_keys_older_than_a_day(api):
    api.post(f"{ADMIN}/roles", {"name": "A"}, **idem("old"))
    api.post(f"{ADMIN}/roles", {"name": "B"}, **idem("new"))
    now = timezone.now()
    IdempotencyKey.objects.filter(key="old").update(created_at=now - dt.timedelta(hours=25))
    assert services.prune_idempotency_keys(now=now) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_without_the_header_nothing_is_stored(api):
    api.post(f"{ADMIN}/roles", {"name": "A"})
    assert not IdempotencyKey.objects.exists()


def test_a_session_is_a_credential_too(admin_client, tenant):
    kwargs = {"content_type": "application/json", "headers": {"Idempotency-Key": "s"}}
    first = admin_client.post(f"{ADMIN}/roles", {"name": "A"}, **kwargs)
    again = admin_client.post(f"{ADMIN}/roles", {"name": "A"}, **kwargs)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and tenant.roles.count() == 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_create_retried_concurrently_makes_one_agent_and_shows_the_secret_once(tenant):
    _, secret = mint_admin_key(tenant)
    responses = race(
        [
            lambda: ApiClient(secret).post(f"{ADMIN}/agents", {"name": "bot"}, **idem("race"))
            for _ in range(6)
        ]
    )
    assert Agent.objects.filter(tenant=tenant).count() == 1
    assert ApiKey.objects.filter(tenant=tenant, kind="agent").count() == 1
    bodies = [r.json() for r in responses if r.status_code == 201]
    assert len([b for b in bodies if b.get("apiKey")]) == 1
    assert {r.status_code for r in responses} <= {201, 409}


def test_oauth_registration_replays_without_the_client_secret(api, tenant):
    body = {"client_name": "Billing sync", "scope": "read:invoices"}
    first = api.post("/t/acme-corp/api/v1/oauth/register", body, **idem("reg"))
    again = api.post("/t/acme-corp/api/v1/oauth/register", body, **idem("reg"))
    assert first.json()["client_secret"] and again.json()["client_secret"] is None
    assert again.json()["client_id"] == first.json()["client_id"]
    assert Agent.objects.filter(tenant=tenant).count() == 1
