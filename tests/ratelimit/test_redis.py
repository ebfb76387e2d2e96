"""With CACHE_URL=redis://…, processes share one counter per key (against the real Redis).

Skipped with a reason when no Redis answers on 127.0.0.1:6379. These tests never clear the
Redis database (other test runs may share it): every counter they touch is for a fresh key id,
and they delete what they made.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import environ
import pytest
from django.core.cache import caches

from access import ratelimit

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]
KEYS = "/t/acme-corp/api/v1/admin/api-keys"


def _redis_answers(url: str = REDIS_URL) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


requires_redis = pytest.mark.skipif(not _redis_answers(), reason=f"no Redis answers at {REDIS_URL}")

# Another process: the project's settings with CACHE_URL pointing at Redis, hitting the limiter
# for the key id and time given on the command line.
CHILD = """
import json, sys, types, django
django.setup()
from access import ratelimit
pk, limit, now, hits = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
key = types.SimpleNamespace(public_id=pk, rate_limit_per_minute=limit, agent_id=None)
print(json.dumps([ratelimit.hit(key, now=now).remaining for _ in range(hits)]))
"""


def other_process(pk, limit, now, hits) -> list[int]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CACHE_URL": REDIS_URL,
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(pk), str(limit), str(now), str(hits)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def redis_cache(settings):
    """This process's default cache is the real Redis (as with CACHE_URL=redis://…)."""
    settings.CACHES = {"default": environ.Env().cache_url_config(REDIS_URL)}
    made = []
    yield made
    now = int(time.time() // ratelimit.BUCKET)
    for key in made:
        caches["default"].delete_many([f"rl:{key}:{b}" for b in range(now - 30, now + 3)])


def test_cache_url_selects_djangos_own_redis_backend():
    config = environ.Env().cache_url_config("redis://127.0.0.1:6379/3")
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


@requires_redis
def test_two_processes_share_one_counter(redis_cache):
    pk = uuid.uuid4().hex
    redis_cache.append(pk)
    now = time.time()
    key = type("Key", (), {"public_id": pk, "rate_limit_per_minute": 5, "agent_id": None})()
    assert [ratelimit.hit(key, now=now).remaining for _ in range(2)] == [4, 3]
    assert other_process(pk, 5, now, 2) == [2, 1]
    assert ratelimit.hit(key, now=now).remaining == 0
    assert ratelimit.hit(key, now=now).exceeded


@requires_redis
@pytest.mark.django_db
def test_api_requests_and_another_process_spend_one_budget(
    redis_cache, make_api, tenant, monkeypatch
):
    from tests.conftest import mint_admin_key

    now = time.time()
    monkeypatch.setattr(ratelimit, "_clock", lambda: now)  # both processes in one window
    key, secret = mint_admin_key(tenant, "shared", rate_limit_per_minute=3)
    redis_cache.append(key.public_id)
    client = make_api(secret)
    first = client.get(KEYS)
    assert (first.status_code, first["RateLimit-Remaining"]) == (200, "2")
    # a second app server (another process) serves two requests of the same key
    assert other_process(key.public_id, 3, now, 2) == [1, 0]
    response = client.get(KEYS)
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
