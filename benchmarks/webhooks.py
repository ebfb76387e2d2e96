"""Webhook measurements: deliveries per second one worker sustains against a local receiver,
and the outbox's cost on a key rotation (queries, time) with and without a subscribed webhook.

    DATABASE_URL=sqlite:////tmp/tessera-webhooks.sqlite3 .venv/bin/python -m benchmarks.webhooks
(any DATABASE_URL works; the database is migrated and gets a throwaway tenant).
"""

import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from access.actor import Actor  # noqa: E402
from apikeys import services as key_services  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from webhooks import services  # noqa: E402
from webhooks.models import Delivery  # noqa: E402

ACTOR = Actor.system("benchmark")
N = int(os.environ.get("BENCH_DELIVERIES", "500"))


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def rotation_cost(tenant, rounds=30):
    counts, times = [], []
    key, _ = key_services.mint_key(tenant, ACTOR, name="bench", scopes=[], expires_at=None)
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as q:
            start = time.perf_counter()
            key, _ = key_services.rotate_key(tenant, ACTOR, key, grace_period=0)
            times.append(time.perf_counter() - start)
        counts.append(len(q.captured_queries))
    return counts[-1], statistics.median(times) * 1000


def main():
    call_command("migrate", verbosity=0)
    # The audit trail is append-only: each run gets its own throwaway tenant.
    tenant = Tenant.objects.create(slug=f"bench-webhooks-{int(time.time())}", name="Bench")
    q0, t0 = rotation_cost(tenant)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    hook, _ = services.create_webhook(tenant, ACTOR, url=url, event_types=["api_key.rotated"])
    q1, t1 = rotation_cost(tenant)
    Delivery.objects.filter(tenant=tenant).delete()
    for _ in range(N):
        services.send_test(tenant, ACTOR, hook)
    start = time.perf_counter()
    sent = 0
    while n := services.deliver_due(limit=20):
        sent += n
    elapsed = time.perf_counter() - start
    server.shutdown()
    print(f"database: {connection.vendor}")
    print(f"rotation without webhooks: {q0} queries, {t0:.2f} ms median")
    print(f"rotation with one subscribed webhook: {q1} queries, {t1:.2f} ms median")
    print(f"one worker: {sent} deliveries in {elapsed:.2f} s = {sent / elapsed:.0f}/s")


if __name__ == "__main__":
    main()
