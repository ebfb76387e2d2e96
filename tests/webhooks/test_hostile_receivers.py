"""Receivers that misbehave on purpose, on real sockets on 127.0.0.1 (SPEC §11: one endpoint
never holds up another; each attempt has an overall deadline and reads at most 64 KiB).

The deadlines are shortened by settings so these tests take a second or two each; every loop
here is bounded in time (`BOUND`), and every receiver stops when its test ends.
"""

import datetime as dt
import socket
import threading
import time

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from access.actor import Actor
from portal.serializers import ts
from webhooks import services, transport
from webhooks.models import Delivery
from webhooks.services import delivery as delivery_services

ACTOR = Actor.system("tests")
DEADLINE = 1.5  # seconds per attempt (15 in production)
BOUND = 10  # no receiver thread, and no wait in a test, outlives this
OK = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.fixture(autouse=True)
def short_deadlines(private_targets):
    with override_settings(
        WEBHOOK_CONNECT_TIMEOUT=1, WEBHOOK_ATTEMPT_DEADLINE=DEADLINE, WEBHOOK_MAX_BODY_BYTES=65536
    ):
        yield


class Receiver:
    """A TCP server on 127.0.0.1 whose `behaviour(receiver, conn)` answers each request."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        self.arrived_at: list[float] = []  # time.monotonic() of each request
        self.hung_up_at: list[float] = []  # when the worker closed a connection we held open
        self.sent = 0  # body bytes the worker accepted from us
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        self.threads[0].start()

    def _serve(self):
        end = time.monotonic() + BOUND
        while not self.stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _handle(self, conn):
        with conn:
            conn.settimeout(BOUND)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(4096)
            self.requests.append(head + b"\r\n\r\n" + body)
            self.arrived_at.append(time.monotonic())
            try:
                self.behaviour(self, conn)
            except TimeoutError:
                pass  # BOUND passed: the test fails on its own assertions
            except OSError:
                self.hung_up_at.append(time.monotonic())  # the worker cut the connection

    def held_open(self, conn):
        """Wait, answering nothing more, until the worker hangs up."""
        if conn.recv(1) == b"":
            self.hung_up_at.append(time.monotonic())

    def trickle(self, conn, prefix: bytes, interval: float):
        conn.sendall(prefix)
        end = time.monotonic() + BOUND
        while not self.stop.wait(interval) and time.monotonic() < end:
            conn.sendall(b"x")
            self.sent += 1

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(BOUND)
        self.server.close()


@pytest.fixture
def receiver():
    made = []

    def make(behaviour):
        made.append(Receiver(behaviour))
        return made[-1]

    yield make
    for r in made:
        r.close()


def silent(r, conn):
    r.held_open(conn)


def healthy(r, conn):
    conn.sendall(OK)


def trickling_headers(r, conn):
    # The status line, then a header one byte at a time: no read ever waits more than 0.5 s.
    r.trickle(conn, b"HTTP/1.1 200 OK\r\nX-Slow: ", 0.5)


def trickling_body(r, conn):
    r.trickle(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0.5)


def endless_body(r, conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")  # ends at close
    end = time.monotonic() + BOUND
    chunk = b"y" * 16384
    while not r.stop.is_set() and time.monotonic() < end:
        conn.sendall(chunk)
        r.sent += len(chunk)


def _hook(tenant, url):
    hook, _ = services.create_webhook(tenant, ACTOR, url=url, event_types=["webhook.test"])
    return hook


def _attempt(delivery):
    delivery.refresh_from_db()
    [attempt] = delivery.attempts
    return delivery, attempt


@pytest.mark.parametrize(
    "behaviour", [silent, trickling_headers, trickling_body], ids=lambda b: b.__name__
)
def test_a_stalling_receiver_costs_one_attempt_cut_at_the_deadline(tenant, receiver, behaviour):
    r = receiver(behaviour)
    d = services.send_test(tenant, ACTOR, _hook(tenant, r.url))
    started = time.monotonic()
    assert services.deliver_due() == 1
    took = time.monotonic() - started
    d, attempt = _attempt(d)
    assert d.status == "pending" and d.retry_index == 1  # a failure, retried as usual
    assert "No complete response within 1.5 s" in attempt["error"]
    assert DEADLINE <= attempt["durationMs"] / 1000 < DEADLINE + 1
    assert took < DEADLINE + 1
    if behaviour is not silent:
        # A byte every 0.5 s never trips a per-read timeout: the overall deadline cut it.
        assert r.sent >= 2


def test_an_endless_body_is_read_up_to_64_kib_and_fails_the_attempt(tenant, receiver):
    r = receiver(endless_body)
    d = services.send_test(tenant, ACTOR, _hook(tenant, r.url))
    assert services.deliver_due() == 1
    d, attempt = _attempt(d)
    assert d.status == "pending"
    assert attempt["statusCode"] == 200
    assert attempt["error"] == "The response body exceeds 65536 bytes; reading stopped there."
    assert attempt["durationMs"] < DEADLINE * 1000  # it stopped at the cap, not the deadline


def test_a_body_within_the_cap_is_read_and_the_attempt_succeeds(tenant, receiver):
    def small_body(r, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n" + b"z" * 65536)

    r = receiver(small_body)
    d = services.send_test(tenant, ACTOR, _hook(tenant, r.url))
    services.deliver_due()
    d, attempt = _attempt(d)
    assert d.status == "delivered" and attempt == {**attempt, "statusCode": 200, "error": None}


# Ample for the healthy endpoint, and under the first retry (4.5 s at the least).
@override_settings(WEBHOOK_ATTEMPT_DEADLINE=4)
def test_another_tenants_endpoint_is_served_while_a_hostile_one_is_stuck(
    tenant, other_tenant, receiver
):
    stuck = receiver(silent)
    fine = receiver(healthy)
    hostile = services.send_test(tenant, ACTOR, _hook(tenant, stuck.url))
    prompt = services.send_test(other_tenant, ACTOR, _hook(other_tenant, fine.url))
    # The worker itself, as `runworker` runs it.
    call_command("runworker", "--until-idle", "--only", "webhooks.deliver")
    [arrived] = fine.arrived_at
    [hung_up] = stuck.hung_up_at
    assert arrived < hung_up  # while the hostile attempt was still waiting for its answer
    assert _attempt(prompt)[0].status == "delivered"
    assert "No complete response" in _attempt(hostile)[1]["error"]


@override_settings(WEBHOOK_ATTEMPT_DEADLINE=4)
def test_an_event_due_while_an_attempt_is_stuck_does_not_wait_for_it(
    tenant, other_tenant, receiver
):
    """The worker's loop claims new rows while an attempt is under way: a batch never waits for
    one endpoint."""
    stuck = receiver(silent)
    fine = receiver(healthy)
    services.send_test(tenant, ACTOR, _hook(tenant, stuck.url))
    fine_hook = _hook(other_tenant, fine.url)
    with services.Courier(threads=4) as courier:
        assert courier.dispatch() == 1  # the hostile attempt is under way
        later = services.send_test(other_tenant, ACTOR, fine_hook)
        assert courier.dispatch() == 1
        end = time.monotonic() + BOUND
        while _attempt_count(later) == 0 and time.monotonic() < end:
            courier.collect(timeout=0.1)
        assert _attempt(later)[0].status == "delivered"
        assert stuck.hung_up_at == []  # still stuck when the later event was delivered


def _attempt_count(delivery):
    return len(Delivery.objects.get(pk=delivery.pk).attempts)


def test_one_endpoints_deliveries_go_one_at_a_time_in_order(tenant, receiver):
    r = receiver(healthy)
    hook = _hook(tenant, r.url)
    now = timezone.now()
    made = [
        services.send_test(tenant, ACTOR, hook, now=now + dt.timedelta(seconds=i)) for i in range(4)
    ]
    assert services.deliver_due(now=now + dt.timedelta(seconds=5)) == 4
    ids = [req.split(b"webhook-id: ")[1].split(b"\r\n")[0].decode() for req in r.requests]
    assert ids == [d.message_id for d in made]


def test_an_endpoint_deleted_during_its_attempt_ends_the_delivery_quietly(tenant, receiver, caplog):
    release = threading.Event()

    def answers_when_told(r, conn):
        release.wait(BOUND)
        conn.sendall(OK)

    r = receiver(answers_when_told)
    hook = _hook(tenant, r.url)
    d = services.send_test(tenant, ACTOR, hook)
    with services.Courier() as courier:
        courier.dispatch()
        end = time.monotonic() + BOUND
        while not r.requests and time.monotonic() < end:
            courier.collect(timeout=0.05)
        services.delete_webhook(tenant, ACTOR, hook)  # while the receiver holds the attempt
        release.set()
        courier.drain()
    assert courier.attempts == 1
    assert not Delivery.objects.filter(pk=d.pk).exists()
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]


def test_a_failing_delivery_never_stops_the_worker(tenant, other_tenant, receiver, monkeypatch):
    r = receiver(healthy)
    broken = services.send_test(tenant, ACTOR, _hook(tenant, r.url))
    fine = services.send_test(other_tenant, ACTOR, _hook(other_tenant, r.url))
    record = services.record_attempt

    def fails_for_one(delivery, **kwargs):
        if delivery.pk == broken.pk:
            raise RuntimeError("the database went away")
        return record(delivery, **kwargs)

    monkeypatch.setattr(delivery_services, "record_attempt", fails_for_one)
    call_command("runworker", "--until-idle", "--only", "webhooks.deliver")
    assert _attempt(fine)[0].status == "delivered"
    broken.refresh_from_db()
    assert broken.attempts == [] and broken.lease_until is not None  # tried again once it expires


def test_a_worker_whose_lease_ran_out_neither_records_nor_sends_again(tenant, receiver):
    release = threading.Event()

    def answers_when_told(r, conn):
        release.wait(BOUND)
        conn.sendall(OK)

    r = receiver(answers_when_told)
    hook = _hook(tenant, r.url)
    start = timezone.now()
    first, second = (
        services.send_test(tenant, ACTOR, hook, now=start - dt.timedelta(seconds=i)) for i in (2, 1)
    )
    with services.Courier() as worker_a:
        worker_a.dispatch(now=start)  # claims both, sends the first; the second waits its turn
        end = time.monotonic() + BOUND
        while not r.requests and time.monotonic() < end:
            worker_a.collect(timeout=0.05)
        # A's lease runs out (its process froze, say); worker B takes both rows over.
        later = start + dt.timedelta(seconds=services.lease_seconds() + 1)
        taken = services.claim_due(now=later)
        assert [d.pk for d in taken] == [first.pk, second.pk]
        release.set()
        worker_a.drain(now=start)  # A's answer comes in late: not recorded, the second not sent
        assert worker_a.attempts == 1 and len(r.requests) == 1
        for d in (first, second):
            d.refresh_from_db()
            assert d.attempts == [] and d.status == "pending"
        for d in taken:
            assert services.send(d, now=later).status == "delivered"  # B records its own
    for d in (first, second):
        d.refresh_from_db()
        assert [a["at"] for a in d.attempts] == [ts(later)]
    assert len(r.requests) == 3


def test_a_redelivered_row_refuses_the_record_of_a_worker_that_lost_it_earlier(tenant):
    hook = _hook(tenant, "http://127.0.0.1:9/")
    d = services.send_test(tenant, ACTOR, hook)
    start = timezone.now()
    [claimed] = services.claim_due(now=start)
    later = start + dt.timedelta(seconds=services.lease_seconds() + 1)
    services.redeliver(tenant, ACTOR, d, now=later)  # the lease ran out: allowed
    late = transport.Outcome(204, "", 5)
    assert services.record_attempt(claimed, now=start, outcome=late) is None
    d.refresh_from_db()
    assert d.attempts == [] and d.status == "pending"


def test_a_lease_lasts_longer_than_an_attempt_can():
    assert services.lease_seconds() > DEADLINE
    with override_settings(WEBHOOK_ATTEMPT_DEADLINE=15):
        assert services.lease_seconds() >= 15 + 10


def test_no_connection_is_opened_once_the_deadline_passed_on_a_slow_dns_answer(tenant, monkeypatch):
    from urllib3.util import connection as urllib3_connection

    from webhooks import signing
    from webhooks.models import Webhook

    real = socket.getaddrinfo
    connects = []

    def slow_dns(host, port, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        threading.Event().wait(DEADLINE + 0.5)  # the resolver answers after the deadline
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    monkeypatch.setattr(urllib3_connection, "create_connection", lambda *a, **k: connects.append(a))
    hook = Webhook.objects.create(
        tenant=tenant,
        url="https://hooks.example.test/hook",
        secret_encrypted=signing.encrypt(signing.new_secret()),
    )
    d = services.send_test(tenant, ACTOR, hook)
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=False):
        assert services.deliver_due() == 1
    assert connects == []
    assert "No complete response within 1.5 s" in _attempt(d)[1]["error"]
