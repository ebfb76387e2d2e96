"""The revocation gate (issue 16): with key rows cached in every gunicorn worker's memory, a
change that refuses or narrows a key is obeyed by every worker from the moment it is answered.

gunicorn with 4 workers on the test's PostgreSQL and Redis (database 13) as CACHE_URL. Each round
warms a fresh agent key through the workers (a burst of concurrent verifications, all VALID),
makes one change through the API (revoke, delete, deactivate the agent, narrow the key's IP list,
remove the agent's role: checked through `permission` on /keys/verify), and once the change is
answered sends another burst: not one of those may be accepted.

`REVOCATION_ROUNDS` rounds (500 by default), within `REVOCATION_SECONDS` (60): on a loaded
machine fewer rounds fit (40 to 234 on a shared 2-core machine), and the test prints how many it
ran (at least 5 of each kind).
"""

import os
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import environ
import pytest

from access.actor import Actor
from agents import services as agent_services
from agents.models import Role
from tenants.models import Tenant
from tests.conftest import requires_postgres
from tests.perf.conftest import PostgresDb
from tests.ratelimit.test_redis import _redis_answers
from tests.served import gunicorn, request

REDIS = "redis://127.0.0.1:6379/13"
ADMIN = "/t/acme-corp/api/v1/admin"
VERIFY = "/t/acme-corp/api/v1/keys/verify"
INSIDE = "10.1.2.3"
BURST = 12  # concurrent verifications per burst: 4 workers × 2 threads, and then some
ROUNDS = int(os.environ.get("REVOCATION_ROUNDS", "500"))
SECONDS = float(os.environ.get("REVOCATION_SECONDS", "60"))
KINDS = ["revoke", "delete", "deactivate", "narrow-ips", "remove-role"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    requires_postgres,
    pytest.mark.skipif(not _redis_answers(REDIS), reason=f"no Redis answers at {REDIS}"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def redis_db(settings):
    import redis

    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    # This process's own writes (each round's new agent and key) bump epochs in the same Redis.
    settings.CACHES = {"default": environ.Env().cache_url_config(REDIS)}
    yield REDIS
    client.flushdb()


def change(host, admin, kind, key_id, agent_id):
    if kind == "revoke":
        return request(
            f"{host}{ADMIN}/api-keys/{key_id}/revoke", method="POST", body={}, headers=admin
        )
    if kind == "delete":
        return request(f"{host}{ADMIN}/api-keys/{key_id}", method="DELETE", headers=admin)
    if kind == "deactivate":
        return request(
            f"{host}{ADMIN}/agents/{agent_id}/deactivate", method="POST", body={}, headers=admin
        )
    if kind == "narrow-ips":
        body = {"allowedIps": ["192.0.2.0/24"]}
        return request(f"{host}{ADMIN}/api-keys/{key_id}", method="PATCH", body=body, headers=admin)
    body = {"roles": []}
    return request(f"{host}{ADMIN}/agents/{agent_id}", method="PATCH", body=body, headers=admin)


def test_no_request_is_accepted_after_a_change_is_answered(redis_db):
    db = PostgresDb()
    tenant = Tenant.objects.get(slug="acme-corp")
    actor = Actor.system("tests")
    role = Role.objects.create(
        tenant=tenant, slug="reader", name="Reader", permissions=["read:reports"]
    )
    admin = {"Authorization": f"Bearer {db.admin_secret}"}
    env = {"CACHE_URL": REDIS, "USAGE_REDIS_PREFIX": f"tessera-test:{uuid.uuid4().hex}"}
    accepted_after = Counter()
    rounds = Counter()
    with (
        gunicorn(db.url, workers=4, threads=2, **env) as host,
        ThreadPoolExecutor(BURST) as pool,
    ):

        def burst(secret):
            body = {"key": secret, "permission": "read:reports", "ip": INSIDE}
            calls = [
                pool.submit(request, host + VERIFY, method="POST", body=body, headers=admin)
                for _ in range(BURST)
            ]
            answers = [c.result() for c in calls]
            assert all(a.status == 200 for a in answers), answers
            return [a.json()["code"] for a in answers]

        deadline = time.monotonic() + SECONDS
        for n in range(ROUNDS):
            if time.monotonic() > deadline:
                break
            kind = KINDS[n % len(KINDS)]
            agent, key, secret = agent_services.create_agent(
                tenant, actor, name=f"bot-{n}", roles=["reader"]
            )
            assert set(burst(secret)) == {"VALID"}, f"round {n}: warm-up"
            answered = change(host, admin, kind, key.pk, agent.pk)
            assert answered.status in (200, 204), (kind, answered)
            codes = burst(secret)
            accepted_after[kind] += codes.count("VALID")
            rounds[kind] += 1
    spent = time.monotonic() - deadline + SECONDS
    print(f"\nrevocation gate: {sum(rounds.values())} rounds in {spent:.0f} s: {dict(rounds)}")
    assert role.pk
    assert sum(accepted_after.values()) == 0, accepted_after
    assert all(rounds[kind] >= min(5, ROUNDS // len(KINDS)) for kind in KINDS), rounds
