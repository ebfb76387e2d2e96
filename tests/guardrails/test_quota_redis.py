"""Quota exactness across app servers (SPEC §15): 50 concurrent requests against a quota of 20,
through two gunicorn workers sharing Redis, get exactly 20 accepted and 30 `quota_exceeded`.

Runs on the database of the run (SQLite scratch file, or PostgreSQL itself). Uses Redis DB 14
(no other test uses it) and deletes the counters it made.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from access import keyformat
from tests.perf.conftest import seeded_db
from tests.ratelimit.test_redis import requires_redis
from tests.served import gunicorn, request

pytestmark = [requires_redis, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/14"
LIMIT, CALLS = 20, 50


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    made = []
    yield made
    for public_id in made:
        for name in client.scan_iter(f"*{public_id}*"):
            client.delete(name)


def test_fifty_concurrent_requests_against_a_quota_of_twenty_get_exactly_twenty(tmp_path, redis_db):
    db = seeded_db(tmp_path)
    redis_db.append(keyformat.parse(db.agent_secret).public_id)
    admin = {"Authorization": f"Bearer {db.admin_secret}"}
    agent = {"Authorization": f"Bearer {db.agent_secret}"}
    with gunicorn(db.url, workers=2, threads=8, CACHE_URL=REDIS_URL) as base:
        api = f"{base}/t/acme-corp/api/v1"
        quota = {"quota": {"limit": LIMIT, "period": "day"}}
        patched = request(
            f"{api}/admin/api-keys/{db.agent_key_id}", method="PATCH", body=quota, headers=admin
        )
        assert patched.status == 200, patched
        with ThreadPoolExecutor(max_workers=CALLS) as pool:
            answers = list(
                pool.map(lambda _: request(f"{api}/agents/me", headers=agent), range(CALLS))
            )
        me = request(f"{api}/admin/api-keys/{db.agent_key_id}", headers=admin)
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200] * LIMIT + [429] * (CALLS - LIMIT), statuses
    refused = [answer for answer in answers if answer.status == 429]
    assert {answer.json()["error"] for answer in refused} == {"quota_exceeded"}
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in refused)
    assert me.json()["quota"] == quota["quota"]
