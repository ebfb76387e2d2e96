"""Refresh tokens (SPEC §10): single use, rotated each use, a replay revokes the family."""

import threading

from django.db import connection
from django.test import Client

from access import keyformat
from audit.models import AuditEvent
from oauth.models import RefreshToken
from tests.conftest import requires_postgres
from tests.oauth.conftest import API, TOKEN, basic, bearer, get_token

ME = f"{API}/agents/me"
REFRESH = f"{API}/oauth/refresh"


def use(refresh_token, url=REFRESH, **extra):
    return Client().post(
        url,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        content_type="application/json",
        **extra,
    )


def test_refresh_answers_a_new_access_token_and_a_new_refresh_token(issued):
    response = use(issued["refresh_token"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert response["Cache-Control"] == "no-store"
    assert body["refresh_token"] != issued["refresh_token"]
    assert body["access_token"] != issued["access_token"]
    assert body["scope"] == issued["scope"]
    assert Client().get(ME, headers=bearer(body["access_token"])).status_code == 200


def test_refresh_works_on_the_token_endpoint_form_encoded(issued):
    response = Client().post(
        TOKEN,
        f"grant_type=refresh_token&refresh_token={issued['refresh_token']}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content


def test_refresh_tokens_are_stored_only_as_a_digest(issued):
    row = RefreshToken.objects.get()
    assert issued["refresh_token"] not in (row.digest, row.public_id)
    assert keyformat.parse_refresh(issued["refresh_token"]) == row.public_id
    assert keyformat.matches(issued["refresh_token"], row.pepper_id, row.digest)


def test_a_refresh_token_with_a_bad_checksum_is_invalid_grant(issued):
    bad = issued["refresh_token"][:-1] + ("A" if issued["refresh_token"][-1] != "A" else "B")
    response = use(bad)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_replaying_a_spent_refresh_token_revokes_the_whole_family(issued, tenant):
    second = use(issued["refresh_token"]).json()
    replay = use(issued["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # Every token of the grant is dead: the first and second access tokens, the new refresh.
    assert Client().get(ME, headers=bearer(issued["access_token"])).status_code == 401
    assert Client().get(ME, headers=bearer(second["access_token"])).status_code == 401
    assert use(second["refresh_token"]).status_code == 400
    assert (
        AuditEvent.objects.filter(tenant=tenant, action="oauth.refresh_token_reused").count() == 1
    )


def test_a_replay_leaves_other_grants_of_the_agent_alone(issued, client_id, secret):
    other = get_token(client_id, secret).json()
    use(issued["refresh_token"])
    use(issued["refresh_token"])
    assert Client().get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_client_authentication_on_refresh_must_match_the_tokens_client(issued, tenant):
    from tests.agents.conftest import make_agent

    other, _, other_secret = make_agent(tenant, name="other-bot")
    response = use(issued["refresh_token"], HTTP_AUTHORIZATION=basic(str(other.pk), other_secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_a_refresh_token_of_another_tenant_is_invalid_grant(issued, other_tenant):
    response = use(issued["refresh_token"], url="/t/globex/api/v1/oauth/refresh")
    assert response.status_code == 400


def test_refresh_after_the_key_was_revoked_is_invalid_grant(issued, made):
    from access.actor import Actor
    from apikeys.services import revoke_key

    revoke_key(made[0].tenant, Actor.system("t"), made[1])
    assert use(issued["refresh_token"]).status_code == 400


@requires_postgres
def test_twenty_concurrent_uses_of_one_refresh_token_give_exactly_one_200(transactional_db, tenant):
    from access.actor import Actor
    from agents import services

    agent, _, secret = services.create_agent(tenant, Actor.system("t"), name="racer")
    refresh_token = get_token(str(agent.pk), secret).json()["refresh_token"]
    barrier = threading.Barrier(20)
    statuses = []

    def worker():
        try:
            barrier.wait()
            statuses.append(use(refresh_token).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 19
