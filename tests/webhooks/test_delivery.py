"""A real HTTP receiver (pytest-httpserver) verifies what the worker sends."""

import datetime as dt
import json

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as Verifier
from werkzeug import Response

from access.actor import Actor
from apikeys import services as key_services
from tests.conftest import mint_admin_key
from webhooks import services
from webhooks.models import Delivery

ACTOR = Actor.system("tests")


def _verified(secret, request):
    return Verifier(secret).verify(request.get_data(as_text=True), dict(request.headers))


@pytest.fixture
def fake_clock_receiver(monkeypatch):
    """The worker runs on a fake clock, so webhook-timestamp is in the receiver's future:
    accept any timestamp, still checking every signature."""
    monkeypatch.setattr(
        Verifier, "_Webhook__verify_timestamp", lambda self, h: dt.datetime.fromtimestamp(int(h))
    )


def _headers(request):
    return {k.lower(): v for k, v in request.headers.items()}


def _drain(now=None):
    total = 0
    while n := services.deliver_due(now=now):
        total += n
    return total


def test_each_event_is_delivered_once_signed_and_carries_the_audit_event(
    tenant, make_hook, httpserver
):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hook, secret = make_hook(httpserver.url_for("/hook"), event_types=[])
    key, _ = mint_admin_key(tenant, name="ci")
    key_services.revoke_key(tenant, ACTOR, key, reason="done")
    _drain()
    bodies = [_verified(secret, req) for req, _ in httpserver.log]
    # A new webhook hears of its own creation, then of every later event, in order.
    assert [b["type"] for b in bodies] == ["webhook.created", "api_key.created", "api_key.revoked"]
    revoked = bodies[2]["data"]
    assert revoked["tenant"] == "acme-corp"
    assert revoked["target"] == {"type": "api_key", "id": str(key.pk), "name": "ci"}
    assert revoked["action"] == "api_key.revoked"
    assert set(revoked) >= {"id", "occurredAt", "actor", "ip", "userAgent", "metadata"}
    assert all(d.status == "delivered" for d in hook.deliveries.all())


def test_payload_never_carries_a_secret(tenant, make_hook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, secret = make_hook(httpserver.url_for("/hook"), event_types=[])
    _, plain = mint_admin_key(tenant, name="ci")
    rotated, new_secret = services.rotate_secret(tenant, ACTOR, hook)
    _drain()
    for req, _ in httpserver.log:
        body = req.get_data(as_text=True)
        assert plain not in body and secret not in body and new_secret not in body


def test_unsubscribed_event_types_are_not_queued(tenant, make_hook):
    hook, _ = make_hook("http://127.0.0.1:9/", event_types=["api_key.revoked"])
    mint_admin_key(tenant, name="ci")
    assert not hook.deliveries.exists()


def test_a_rolled_back_change_sends_nothing(tenant, make_hook):
    hook, _ = make_hook("http://127.0.0.1:9/", event_types=["api_key.created"])
    with pytest.raises(RuntimeError), transaction.atomic():
        mint_admin_key(tenant, name="ci")
        assert hook.deliveries.count() == 1
        raise RuntimeError("the change fails")
    assert not hook.deliveries.exists()


def test_retries_follow_the_schedule_with_a_stable_webhook_id(
    tenant, make_hook, httpserver, fake_clock_receiver
):
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    hook, secret = make_hook(httpserver.url_for("/hook"))
    d = services.send_test(tenant, ACTOR, hook)
    now = timezone.now()
    for expected in services.RETRY_SCHEDULE:
        assert services.deliver_due(now=now) == 1
        d.refresh_from_db()
        wait = (d.next_attempt_at - now).total_seconds()
        assert expected * 0.9 <= wait <= expected * 1.1
        # Nothing is due before the next attempt.
        assert services.deliver_due(now=d.next_attempt_at - dt.timedelta(seconds=1)) == 0
        now = d.next_attempt_at
    assert services.deliver_due(now=now) == 1
    d.refresh_from_db()
    assert d.status == "failed" and d.next_attempt_at is None
    assert len(d.attempts) == len(services.RETRY_SCHEDULE) + 1
    assert {a["statusCode"] for a in d.attempts} == {500}
    assert all(set(a) == {"at", "statusCode", "durationMs", "error"} for a in d.attempts)
    ids = {_headers(req)["webhook-id"] for req, _ in httpserver.log}
    assert ids == {d.message_id}
    for req, _ in httpserver.log:
        _verified(secret, req)  # each retry is signed (at its own timestamp)


def test_success_after_failures_marks_delivered(tenant, make_hook, httpserver):
    answers = iter([Response("x", status=503), Response("ok", status=204)])
    httpserver.expect_request("/hook").respond_with_handler(lambda r: next(answers))
    hook, _ = make_hook(httpserver.url_for("/hook"))
    d = services.send_test(tenant, ACTOR, hook)
    now = timezone.now()
    services.deliver_due(now=now)
    services.deliver_due(now=now + dt.timedelta(seconds=10))
    d.refresh_from_db()
    assert d.status == "delivered"
    assert [a["statusCode"] for a in d.attempts] == [503, 204]


def test_a_redirect_counts_as_a_failure_and_is_not_followed(tenant, make_hook, httpserver):
    httpserver.expect_request("/hook").respond_with_response(
        Response("", status=302, headers={"Location": httpserver.url_for("/elsewhere")})
    )
    httpserver.expect_request("/elsewhere").respond_with_data("ok")
    hook, _ = make_hook(httpserver.url_for("/hook"))
    d = services.send_test(tenant, ACTOR, hook)
    services.deliver_due()
    d.refresh_from_db()
    assert d.status == "pending" and d.attempts[0]["statusCode"] == 302
    assert [req.path for req, _ in httpserver.log] == ["/hook"]


def test_410_disables_the_endpoint_and_emits_webhook_disabled(tenant, make_hook, httpserver):
    httpserver.expect_request("/gone").respond_with_data("", status=410)
    httpserver.expect_request("/other").respond_with_data("ok")
    gone, _ = make_hook(httpserver.url_for("/gone"), event_types=["webhook.test"])
    other, secret = make_hook(httpserver.url_for("/other"), event_types=["webhook.disabled"])
    services.send_test(tenant, ACTOR, gone)
    _drain()
    gone.refresh_from_db()
    assert not gone.is_active and gone.disabled_reason == "410 Gone"
    assert gone.deliveries.get().status == "failed"
    disabled = [_verified(secret, r) for r, _ in httpserver.log if r.path == "/other"]
    assert [b["type"] for b in disabled] == ["webhook.disabled"]
    assert disabled[0]["data"]["actor"]["type"] == "system"


def test_five_days_without_success_disables(tenant, make_hook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    hook, _ = make_hook(httpserver.url_for("/hook"))
    services.send_test(tenant, ACTOR, hook)
    start = timezone.now()
    services.deliver_due(now=start)
    services.send_test(tenant, ACTOR, hook)
    services.deliver_due(now=start + dt.timedelta(days=4))
    hook.refresh_from_db()
    assert hook.is_active
    services.deliver_due(now=start + dt.timedelta(days=5, seconds=1))
    hook.refresh_from_db()
    assert not hook.is_active and "5 days" in hook.disabled_reason


def test_redelivery_resends_the_same_event_with_the_same_id(tenant, make_hook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, secret = make_hook(httpserver.url_for("/hook"))
    d = services.send_test(tenant, ACTOR, hook)
    _drain()
    services.redeliver(tenant, ACTOR, d)
    _drain()
    first, second = (req for req, _ in httpserver.log)
    assert _headers(first)["webhook-id"] == _headers(second)["webhook-id"] == d.message_id
    assert first.get_data() == second.get_data()
    d.refresh_from_db()
    assert d.status == "delivered" and len(d.attempts) == 2


def test_grace_period_sends_two_signatures_both_verifying(
    tenant, make_hook, httpserver, fake_clock_receiver
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, old = make_hook(httpserver.url_for("/hook"), event_types=["webhook.test"])
    hook, new = services.rotate_secret(tenant, ACTOR, hook, grace_period=3600)
    services.send_test(tenant, ACTOR, hook)
    _drain()
    services.send_test(tenant, ACTOR, hook)
    _drain(now=timezone.now() + dt.timedelta(hours=2))
    during, after = (req for req, _ in httpserver.log)
    assert len(_headers(during)["webhook-signature"].split()) == 2
    _verified(old, during)
    _verified(new, during)
    assert len(_headers(after)["webhook-signature"].split()) == 1


def test_a_killed_workers_claim_expires_and_another_worker_sends_it(tenant, make_hook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, _ = make_hook(httpserver.url_for("/hook"), event_types=["webhook.test"])
    for _ in range(5):
        services.send_test(tenant, ACTOR, hook)
    now = timezone.now()
    claimed = services.claim_due(now=now, limit=3)  # this worker is killed before sending
    assert len(claimed) == 3
    assert _drain(now=now) == 2  # another worker skips the leased rows
    lease = Delivery.objects.filter(pk__in=[d.pk for d in claimed]).first().lease_until
    assert _drain(now=lease + dt.timedelta(seconds=1)) == 3
    ids = [_headers(req)["webhook-id"] for req, _ in httpserver.log]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert set(hook.deliveries.values_list("status", flat=True)) == {"delivered"}


def test_delivered_rows_are_pruned_after_30_days(tenant, make_hook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, _ = make_hook(httpserver.url_for("/hook"), event_types=["webhook.test"])
    services.send_test(tenant, ACTOR, hook)
    _drain()
    assert services.prune(now=timezone.now() + dt.timedelta(days=29)) == 0
    assert services.prune(now=timezone.now() + dt.timedelta(days=31)) == 1


def test_payload_is_json_with_type_timestamp_data(tenant, make_hook):
    hook, _ = make_hook("http://127.0.0.1:9/", event_types=["api_key.created"])
    mint_admin_key(tenant, name="ci")
    body = json.loads(hook.deliveries.get().payload)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["timestamp"] == body["data"]["occurredAt"]


def test_runworker_command_delivers_until_idle_on_any_database(
    tenant, make_hook, httpserver, settings
):
    from django.core.management import call_command

    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, _ = make_hook(httpserver.url_for("/hook"))
    for _ in range(3):
        services.send_test(tenant, ACTOR, hook)
    settings.WEBHOOK_DELIVERY_BATCH = 2  # three deliveries: two batches
    call_command("runworker", "--until-idle", "--only", "webhooks.deliver")
    assert set(hook.deliveries.values_list("status", flat=True)) == {"delivered"}
    assert len(httpserver.log) == 3
