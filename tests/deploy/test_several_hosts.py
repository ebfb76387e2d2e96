"""Several hosts, shown (issue 17): two app hosts (gunicorn on two ports) and two `runworker`
processes on one PostgreSQL and one Redis behave as one deployment.

- 300 events to one endpoint arrive exactly once each (by `webhook-id`);
- a key revoked through host 1 is refused by host 2 on its next request;
- one key's rate limit holds across both hosts (SPEC §6b: at most the limit + 10 %);
- uses made through both hosts are all counted once the worker's usage job has run;
- a worker killed with SIGKILL in the middle of a batch loses no delivery (the other worker takes
  it once the lease has run out) and no receiver that answered 2xx gets an event twice.

Every wait is bounded. PostgreSQL only (SKIP LOCKED; SQLite's in-memory test database cannot be
shared with other processes), and Redis on 127.0.0.1:6379 (this test's database: 9).
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import transaction
from django.db.models import Sum

from access.actor import Actor
from apikeys.models import KeyUsage
from tenants.models import Tenant
from tests.conftest import requires_postgres
from tests.perf.conftest import PostgresDb
from tests.ratelimit.test_redis import requires_redis
from tests.served import gunicorn, request
from webhooks import services
from webhooks.models import Delivery, Webhook

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/9"
ADMIN = "/t/acme-corp/api/v1/admin"
BATCH = 5
LEASE_PER_DELIVERY = 1  # seconds: a killed worker's batch is free again after BATCH of them

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    requires_postgres,
    requires_redis,
    pytest.mark.django_db(transaction=True),
]


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


class Receiver:
    """A loopback webhook endpoint that answers 200 and remembers every answer by webhook-id.
    With `gate_after(n)` it holds every request that comes after n more 2xx answers, until
    `release()` answers the held ones 503 (never 2xx)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers: list[tuple[str, int]] = []
        self.held: list[tuple[str, int]] = []  # (webhook-id, the sender's port)
        self.gate_at: int | None = None
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                webhook_id = self.headers["webhook-id"]
                with receiver.lock:
                    held = receiver.gate_at is not None and receiver.ok() >= receiver.gate_at
                    if held:
                        receiver.held.append((webhook_id, self.client_address[1]))
                    else:
                        receiver.answers.append((webhook_id, 200))
                if held:
                    receiver.released.wait(60)
                    with receiver.lock:
                        receiver.answers.append((webhook_id, 503))
                try:
                    self.send_response(503 if held else 200)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender was killed meanwhile

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ok(self, ids=None) -> int:
        return sum(1 for i, s in self.answers if s == 200 and (ids is None or i in ids))

    def oks(self) -> Counter:
        with self.lock:
            return Counter(i for i, s in self.answers if s == 200)

    def gate_after(self, n: int) -> None:
        with self.lock:
            self.gate_at = self.ok() + n

    def release(self) -> None:
        with self.lock:
            self.gate_at = None
        self.released.set()

    def close(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()


def socket_owner(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """Which of `pids` owns the loopback TCP connection from `client_port` to `server_port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == client_port and int(remote.split(":")[1], 16) == (
            server_port
        ):
            inodes.add(f"socket:[{inode}]")
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except OSError:
                continue
    return None


def start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--poll", "0.2"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    yield REDIS
    client.flushdb()


def test_two_hosts_and_two_workers_act_as_one_deployment(redis_db):
    db = PostgresDb()
    receiver = Receiver()
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": db.url,
        "PYTHONPATH": str(ROOT),
        "CACHE_URL": redis_db,
        "USAGE_REDIS_PREFIX": f"tessera-test:{uuid.uuid4().hex}",
        "USAGE_FLUSH_SECONDS": "1",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_DELIVERY_BATCH": str(BATCH),
        "WEBHOOK_LEASE_PER_DELIVERY": str(LEASE_PER_DELIVERY),
    }
    admin = {"Authorization": f"Bearer {db.admin_secret}"}
    with ExitStack() as stack:
        stack.callback(receiver.close)
        host1 = stack.enter_context(gunicorn(db.url, threads=4, **env))
        host2 = stack.enter_context(gunicorn(db.url, threads=4, **env))
        workers = [start_worker(env), start_worker(env)]
        for w in workers:
            stack.callback(stop, w)

        # 300 events to one endpoint: each arrives exactly once.
        created = request(
            f"{host1}{ADMIN}/webhooks",
            method="POST",
            body={"url": receiver.url, "eventTypes": ["webhook.test"]},
            headers=admin,
        )
        assert created.status == 201, created
        hook = Webhook.objects.get(pk=created.json()["id"])
        tenant = Tenant.objects.get(slug="acme-corp")
        actor = Actor.system("tests")
        with transaction.atomic():
            first = {services.send_test(tenant, actor, hook).message_id for _ in range(300)}
        wait_for(lambda: set(receiver.oks()) >= first, 60, "300 deliveries")
        wait_for(lambda: Delivery.objects.filter(status="delivered").count() == 300, 15, "recorded")
        assert set(receiver.oks().values()) == {1}
        assert all(len(d.attempts) == 1 for d in Delivery.objects.all())

        # A key revoked through host 1 is refused by host 2 on its next request.
        minted = request(
            f"{host1}{ADMIN}/api-keys", method="POST", body={"name": "leaving"}, headers=admin
        ).json()
        leaving = {"Authorization": f"Bearer {minted['apiKey']}"}
        assert request(f"{host2}{ADMIN}/api-keys", headers=leaving).status == 200
        revoked = request(
            f"{host1}{ADMIN}/api-keys/{minted['id']}/revoke", method="POST", body={}, headers=admin
        )
        assert revoked.status == 200, revoked
        assert request(f"{host2}{ADMIN}/api-keys", headers=leaving).status == 401

        # One key's rate limit holds across both hosts.
        limited = request(
            f"{host1}{ADMIN}/api-keys",
            method="POST",
            body={"name": "limited", "rateLimitPerMinute": 20},
            headers=admin,
        ).json()
        headers = {"Authorization": f"Bearer {limited['apiKey']}"}
        statuses = Counter(
            request(f"{(host1, host2)[i % 2]}{ADMIN}/api-keys", headers=headers).status
            for i in range(40)
        )
        assert set(statuses) == {200, 429}
        assert 20 <= statuses[200] <= 22  # the limit, + 10 % at most

        # Uses made through both hosts are all counted once the worker's usage job has run.
        counted = request(
            f"{host1}{ADMIN}/api-keys", method="POST", body={"name": "counted"}, headers=admin
        ).json()
        headers = {"Authorization": f"Bearer {counted['apiKey']}"}
        for i in range(15):
            host = (host1, host2)[i % 2]
            assert request(f"{host}{ADMIN}/api-keys", headers=headers).status == 200

        def uses():
            rows = KeyUsage.objects.filter(key_id=counted["id"])
            return rows.aggregate(n=Sum("count"))["n"] or 0

        wait_for(lambda: uses() == 15, 30, "15 uses written by the workers")

        # A worker killed with SIGKILL mid-batch: the other takes its deliveries after the lease;
        # none is lost, and none is sent twice to a receiver that answered 2xx.
        receiver.gate_after(3)
        with transaction.atomic():
            last = {services.send_test(tenant, actor, hook).message_id for _ in range(20)}
        wait_for(lambda: receiver.held, 30, "a delivery held by the receiver")
        # Every 2xx answered so far is recorded, so the kill can only cut unanswered attempts.
        wait_for(
            lambda: (
                Delivery.objects.filter(message_id__in=last, status="delivered").count()
                == receiver.ok(last)
            ),
            15,
            "the answered attempts recorded",
        )
        _, port = receiver.held[0]
        victim = socket_owner(port, receiver.port, [w.pid for w in workers])
        assert victim is not None, "the held request comes from one of the two workers"
        os.kill(victim, signal.SIGKILL)
        killed = next(w for w in workers if w.pid == victim)
        killed.wait(timeout=10)
        cut = {webhook_id for webhook_id, p in receiver.held if p == port}
        receiver.release()
        wait_for(
            lambda: Delivery.objects.filter(message_id__in=last, status="delivered").count() == 20,
            60,
            "the killed worker's deliveries taken over",
        )
        oks = receiver.oks()
        assert all(oks[i] == 1 for i in last | first), "a 2xx receiver got an event twice"
        for webhook_id in cut:  # sent by the killed worker, answered only after it died
            delivery = Delivery.objects.get(message_id=webhook_id)
            assert [a["statusCode"] for a in delivery.attempts] == [200]
