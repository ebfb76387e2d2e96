"""Buffered usage tracking: exact per-day counts once flushed, lastUsedAt within the flush
interval, written in batches on the request path without Redis (no thread), nothing lost on a
graceful shutdown (gunicorn's worker_exit); with Redis, written by the worker's job."""

import datetime as dt
import importlib.util
import io
import signal
import time
import urllib.request

import pytest
from django.core.management import call_command
from django.utils import timezone

from apikeys import usage
from apikeys.models import KeyUsage
from tests.perf.conftest import ROOT
from tests.ratelimit.test_redis import REDIS_URL, requires_redis

KEYS = "/t/acme-corp/api/v1/admin/api-keys"


def db_key(key):
    key.refresh_from_db()
    return key


@pytest.mark.django_db
def test_uses_are_buffered_not_written_per_request(api, admin_key):
    for _ in range(3):
        api.get(KEYS)
    key = db_key(admin_key[0])
    assert key.last_used_at is None
    assert not KeyUsage.objects.filter(key=key).exists()
    assert usage.pending() == 3


@pytest.mark.django_db
def test_last_used_lags_at_most_the_flush_interval(api, admin_key, settings):
    settings.USAGE_FLUSH_SECONDS = 60
    api.get(KEYS, REMOTE_ADDR="10.0.0.9")
    assert db_key(admin_key[0]).last_used_at is None
    usage._last_flush = time.monotonic() - 61  # the interval has passed
    before = timezone.now()
    api.get(KEYS, REMOTE_ADDR="10.0.0.10")  # the request that finds the buffer due flushes it
    key = db_key(admin_key[0])
    assert key.last_used_at >= before
    assert key.last_used_ip == "10.0.0.10"
    assert KeyUsage.objects.get(key=key).count == 2
    assert usage.pending() == 0


@pytest.mark.django_db
def test_counts_are_exact_per_day_across_flushes(admin_key):
    key = admin_key[0]
    day1 = timezone.now().replace(hour=23, minute=59) - dt.timedelta(days=1)
    day2 = day1 + dt.timedelta(minutes=2)
    for when, n in ((day1, 3), (day2, 2)):
        for _ in range(n):
            usage.record_use(key, "10.0.0.1", now=when)
    assert usage.flush() == 5
    for _ in range(4):
        usage.record_use(key, "10.0.0.2", now=day2)
    assert usage.flush() == 4
    counts = dict(KeyUsage.objects.filter(key=key).values_list("date", "count"))
    assert counts == {day1.date(): 3, day2.date(): 6}


@pytest.mark.django_db
def test_a_failed_write_keeps_the_counts_for_the_next_flush(admin_key, monkeypatch):
    key = admin_key[0]
    for _ in range(3):
        usage.record_use(key, "10.0.0.1")
    real_write = usage._write

    def broken(*args):
        raise RuntimeError("database went away")

    monkeypatch.setattr(usage, "_write", broken)
    assert usage.flush() == 0
    assert usage.pending() == 3
    usage.record_use(key, "10.0.0.1")
    monkeypatch.setattr(usage, "_write", real_write)
    assert usage.flush() == 4
    assert KeyUsage.objects.get(key=key).count == 4


@pytest.mark.django_db
def test_last_used_never_moves_backwards(admin_key):
    """Another process may already have written a later use."""
    key = admin_key[0]
    later = timezone.now()
    type(key).objects.filter(pk=key.pk).update(last_used_at=later, last_used_ip="10.0.0.99")
    usage.record_use(key, "10.0.0.1", now=later - dt.timedelta(seconds=30))
    usage.flush()
    key = db_key(key)
    assert (key.last_used_at, key.last_used_ip) == (later, "10.0.0.99")


@pytest.mark.django_db
def test_flushusage_command_writes_the_buffer(admin_key):
    usage.record_use(admin_key[0], "10.0.0.1")
    out = io.StringIO()
    call_command("flushusage", stdout=out)
    assert "wrote 1" in out.getvalue()
    assert KeyUsage.objects.get(key=admin_key[0]).count == 1


@pytest.mark.django_db
def test_the_request_that_completes_a_batch_writes_it(api, admin_key, settings):
    settings.USAGE_FLUSH_SECONDS = 3600
    settings.USAGE_FLUSH_BATCH = 5
    for _ in range(4):
        api.get(KEYS)
    assert not KeyUsage.objects.filter(key=admin_key[0]).exists()
    api.get(KEYS)  # the fifth use completes the batch
    assert KeyUsage.objects.get(key=admin_key[0]).count == 5
    assert usage.pending() == 0
    api.get(KEYS)
    assert usage.pending() == 1  # the next batch starts


def _gunicorn_conf():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_worker_exit_writes_the_workers_own_buffer_only(monkeypatch):
    conf = _gunicorn_conf()
    seen = []
    monkeypatch.setattr(usage, "flush", lambda **kwargs: seen.append(kwargs))
    conf.worker_exit(None, None)
    assert seen == [{"shared": False}]  # Redis's buffer is the worker's to write
    assert not hasattr(conf, "post_worker_init")


def test_gunicorn_graceful_shutdown_loses_no_usage(scratch_db):
    """Real gunicorn (the project's gunicorn.conf.py), then SIGTERM: every use is written."""
    from benchmarks import load
    from benchmarks.run import Gunicorn

    server = Gunicorn(scratch_db.url, workers=2)
    try:
        headers = {"Authorization": f"Bearer {scratch_db.admin_secret}"}
        # the benchmark's load generator, with the key it must send
        ping = load.Target("GET", "/t/acme-corp/api/v1/bench/ping", headers, None)
        result = load.run(server.url, ping, connections=2, seconds=0.5)
        assert result["requests"] > 0 and result["errors"] == 0
        for _ in range(9):
            request = urllib.request.Request(server.url + KEYS, headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                assert response.status == 200
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
    # wrk stops counting with requests still in flight (at most one per connection): those
    # were served, and counted, too.
    assert 0 <= scratch_db.usage_count(scratch_db.admin_id) - (result["requests"] + 9) <= 2


@pytest.mark.django_db
def test_a_flush_during_a_database_outage_logs_once_and_keeps_the_counts(
    admin_key, monkeypatch, caplog
):
    from django.db import OperationalError

    from portal import outage

    key = admin_key[0]
    usage.record_use(key, "10.0.0.1")

    def down(*args):
        raise OperationalError("connection refused")

    monkeypatch.setattr(usage, "_write", down)
    monkeypatch.setattr(outage, "_down", False)
    with caplog.at_level("INFO"):
        assert usage.flush() == 0
        assert usage.flush() == 0
    assert "Traceback" not in caplog.text
    assert caplog.text.count("database unavailable") == 1
    assert usage.pending() == 1
    monkeypatch.undo()
    assert usage.flush() == 1


@requires_redis
def test_under_runserver_usage_is_written_by_the_worker_without_a_later_request(scratch_db):
    """`manage.py runserver` and `runworker` (as scripts/run serves the demo, DEBUG on) with
    Redis: one use of a key is in the database within the flush interval although no request
    follows it."""
    import os
    import subprocess
    import sys
    import uuid

    from tests.served import free_port, request, wait_until_serving

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "DATABASE_URL": scratch_db.url,
        "USAGE_FLUSH_SECONDS": "1",
        "CACHE_URL": "locmemcache://",
        "USAGE_REDIS_URL": REDIS_URL,
        "USAGE_REDIS_PREFIX": f"tessera-test:{uuid.uuid4().hex}",
    }
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--only", "apikeys.flush_usage"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, server)
        headers = {"Authorization": f"Bearer {scratch_db.admin_secret}"}
        assert request(base + KEYS, headers=headers).status == 200
        deadline = time.monotonic() + 15
        while scratch_db.usage_count(scratch_db.admin_id) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scratch_db.usage_count(scratch_db.admin_id) == 1
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=30)
