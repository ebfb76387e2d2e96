"""With Redis, web processes hand uses to it and never write them: a worker killed with SIGKILL
loses no counted use, and runworker's flush job (or any process's flush) writes them (SPEC §6b's
cache, issue "crash-safe usage").

Against the real Redis on 127.0.0.1:6379 (skipped with a reason when none answers). Every test
uses a buffer prefix of its own and deletes it, so parallel runs never meet.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from apikeys import usage
from apikeys.models import KeyUsage
from tests.perf.conftest import ROOT, run_python
from tests.ratelimit.test_redis import REDIS_URL, requires_redis
from tests.served import gunicorn, request

pytestmark = requires_redis

KEYS = "/t/acme-corp/api/v1/admin/api-keys"


@pytest.fixture
def prefix():
    import redis

    name = f"tessera-test:{uuid.uuid4().hex}"
    yield name
    redis.Redis.from_url(REDIS_URL).delete(f"{name}:counts", f"{name}:last")


@pytest.fixture
def shared_buffer(settings, prefix):
    settings.USAGE_REDIS_URL = REDIS_URL
    settings.USAGE_REDIS_PREFIX = prefix
    usage.reset()
    return prefix


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_uses_killed_with_their_workers_are_written_by_another_process(
    scratch_db, prefix, monkeypatch
):
    """gunicorn with two workers counts 40 uses, then every process of it is SIGKILLed (no
    atexit, no worker_exit): a flush from a fresh process writes all 40."""
    env = {
        "CACHE_URL": REDIS_URL,
        "USAGE_REDIS_PREFIX": prefix,
        "USAGE_FLUSH_SECONDS": "3600",
    }
    headers = {"Authorization": f"Bearer {scratch_db.admin_secret}"}
    with gunicorn(scratch_db.url, workers=2, threads=2, **env) as base:
        statuses = [request(base + KEYS, headers=headers).status for _ in range(40)]
        assert statuses == [200] * 40
        victims = _processes_with(f"USAGE_REDIS_PREFIX={prefix}")
        assert len(victims) >= 3  # the arbiter and both workers
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _processes_with(f"USAGE_REDIS_PREFIX={prefix}") and time.monotonic() < deadline:
            time.sleep(0.1)
    assert scratch_db.usage_count(scratch_db.admin_id) == 0  # nothing had been written yet
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    written = run_python(
        "import django; django.setup()\nfrom apikeys import usage\nprint(usage.flush())",
        scratch_db.url,
    )
    assert written.strip().splitlines()[-1] == "40"
    assert scratch_db.usage_count(scratch_db.admin_id) == 40


# A worker whose flush fails (the database is down) and that is then killed with SIGKILL.
FAILS_THEN_DIES = """
import os, signal, sys, django
django.setup()
from apikeys import usage
from apikeys.models import ApiKey
key = ApiKey.objects.get(pk=sys.argv[1])
for _ in range(7):
    usage.record_use(key, "10.0.0.9")
def down(*args):
    raise RuntimeError("database is down")
usage._write = down
print(usage.flush(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_uses_a_failed_flush_took_outlive_the_process_that_took_them(
    scratch_db, prefix, monkeypatch
):
    """The flush took the uses out of Redis, could not write them, and its process was then
    killed: they went back to Redis, so the next flush of another process writes all 7."""
    env = {"CACHE_URL": REDIS_URL, "USAGE_REDIS_PREFIX": prefix, "USAGE_FLUSH_SECONDS": "3600"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = subprocess.run(
        [sys.executable, "-c", FAILS_THEN_DIES, scratch_db.admin_id],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": scratch_db.url,
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert child.stdout.strip() == "0"  # its flush wrote nothing
    assert scratch_db.usage_count(scratch_db.admin_id) == 0
    written = run_python(
        "import django; django.setup()\nfrom apikeys import usage\nprint(usage.flush())",
        scratch_db.url,
    )
    assert written.strip().splitlines()[-1] == "7"
    assert scratch_db.usage_count(scratch_db.admin_id) == 7


@pytest.mark.django_db
def test_two_flushes_at_once_never_count_a_use_twice(shared_buffer, admin_key):
    key = admin_key[0]
    for _ in range(5):
        usage.record_use(key, "10.0.0.7")
    assert usage.pending() == 5
    assert usage.flush() == 5
    assert usage.flush() == 0  # the first flush took the buffer whole
    assert KeyUsage.objects.get(key=key).count == 5
    key.refresh_from_db()
    assert key.last_used_ip == "10.0.0.7"
    assert key.last_used_at is not None


def _down(*args):
    raise RuntimeError("down")


@pytest.mark.parametrize("redis_takes_them_back", [True, False])
@pytest.mark.django_db
def test_a_failed_write_keeps_the_uses_for_the_next_flush(
    shared_buffer, admin_key, monkeypatch, redis_takes_them_back
):
    """They go back to Redis (so they outlive this process); to memory if Redis refuses too."""
    key = admin_key[0]
    for _ in range(3):
        usage.record_use(key, None)
    monkeypatch.setattr(usage, "_write", _down)
    if not redis_takes_them_back:
        monkeypatch.setattr(usage.RedisBuffer, "put_back", _down)
    assert usage.flush() == 0
    in_memory = sum(usage._counts.values())
    assert in_memory == (0 if redis_takes_them_back else 3)
    assert usage.pending() == 3
    monkeypatch.undo()
    assert usage.flush() == 3
    assert KeyUsage.objects.get(key=key).count == 3


@pytest.mark.django_db
def test_requests_count_in_redis_not_in_process_memory(shared_buffer, api, admin_key):
    for _ in range(4):
        assert api.get(KEYS).status_code == 200
    assert usage._counts == {}  # nothing in this process's own buffer
    assert usage.pending() == 4
    assert usage.flush() == 4


@pytest.mark.django_db
def test_an_unreachable_redis_falls_back_to_memory(settings, admin_key):
    settings.USAGE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.USAGE_REDIS_PREFIX = f"tessera-test:{uuid.uuid4().hex}"
    key = admin_key[0]
    usage.record_use(key, "10.0.0.8", now=timezone.now())
    assert sum(usage._counts.values()) == 1
    settings.USAGE_REDIS_URL = ""
    assert usage.flush() == 1


@pytest.mark.django_db
def test_with_redis_requests_never_write_usage_the_workers_job_does(shared_buffer, api, settings):
    from django.core.management import call_command

    settings.USAGE_FLUSH_SECONDS = 0  # were requests to write, each would
    settings.USAGE_FLUSH_BATCH = 1
    for _ in range(3):
        assert api.get(KEYS).status_code == 200
    assert not KeyUsage.objects.exists()
    assert usage.pending() == 3
    call_command("runworker", "--once", "--only", "apikeys.flush_usage")
    assert KeyUsage.objects.get().count == 3
    assert usage.pending() == 0


def test_a_process_that_exits_leaves_its_uses_to_the_worker(scratch_db, prefix, monkeypatch):
    """A process that used a key and exits without flushing loses nothing: the worker's job,
    in another process, writes its uses."""
    for name, value in {"CACHE_URL": REDIS_URL, "USAGE_REDIS_PREFIX": prefix}.items():
        monkeypatch.setenv(name, value)
    run_python(
        "import django, sys; django.setup()\n"
        "from apikeys.models import ApiKey\n"
        "from apikeys import usage\n"
        "key = ApiKey.objects.get(pk=sys.argv[1])\n"
        "for _ in range(7): usage.record_use(key, '10.0.0.1')\n"
        "assert usage.pending() == 7\n",
        scratch_db.url,
        scratch_db.admin_id,
    )
    assert scratch_db.usage_count(scratch_db.admin_id) == 0
    run_python(
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('runworker', '--once', '--only', 'apikeys.flush_usage')\n",
        scratch_db.url,
    )
    assert scratch_db.usage_count(scratch_db.admin_id) == 7
