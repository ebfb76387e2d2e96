"""`manage.py runworker` as real processes against PostgreSQL (SKIP LOCKED)."""

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from access.actor import Actor
from tests.conftest import requires_postgres
from webhooks import services
from webhooks.models import Delivery

ROOT = Path(__file__).resolve().parents[2]
ACTOR = Actor.system("tests")


def _worker_env():
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    url = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": url,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    }


def _worker(*args, batch=20):
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--only", "webhooks.deliver", *args],
        cwd=ROOT,
        env={**_worker_env(), "WEBHOOK_DELIVERY_BATCH": str(batch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_deliver_200_events_exactly_once(tenant, make_hook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, _ = make_hook(httpserver.url_for("/hook"))
    for _ in range(200):
        services.send_test(tenant, ACTOR, hook)
    workers = [_worker("--until-idle", batch=5) for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()
    ids = Counter(req.headers["webhook-id"] for req, _ in httpserver.log)
    assert len(ids) == 200 and set(ids.values()) == {1}
    assert Delivery.objects.filter(status="delivered").count() == 200
    assert all(len(d.attempts) == 1 for d in Delivery.objects.all())


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_worker_stops_cleanly_on_sigterm(tenant):
    w = _worker("--poll", "0.2")
    # The worker says so once its SIGTERM handler is installed.
    assert w.stderr.readline().strip() == b"worker started"
    w.send_signal(signal.SIGTERM)
    _, err = w.communicate(timeout=30)
    assert w.returncode == 0, err.decode()
    assert b"worker stopped" in err
