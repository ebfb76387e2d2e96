"""GET /metrics (SPEC §13): Prometheus text behind METRICS_TOKEN, counting what the places that
decide decided: authentications, verifications, rate limits, tokens, webhook attempts; outbox
gauges read at scrape time; request durations by route name. In-process here (single-process
mode); tests/portal/test_metrics_served.py sums two gunicorn workers."""

import datetime as dt

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from access import signing
from access.actor import Actor
from agents.models import Agent
from apikeys import services as key_services
from tests.agents.conftest import make_agent
from tests.conftest import PASSWORD, ApiClient, mint_admin_key
from tests.oauth.conftest import get_token
from webhooks import services as webhook_services
from webhooks.metrics import OutboxCollector
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token-" + "m" * 20
SYSTEM = Actor.system("tests")
VERIFY = "/t/acme-corp/api/v1/keys/verify"
KEYS = "/t/acme-corp/api/v1/admin/api-keys"


@pytest.fixture(autouse=True)
def _metrics_token():
    with override_settings(METRICS_TOKEN=TOKEN):
        yield


@pytest.fixture
def oauth_client(tenant):
    """(client id, client secret) of an agent."""
    signing.reset()  # signing keys live in process memory; this test's database has none
    agent, _, secret = make_agent(tenant)
    yield str(agent.pk), secret
    signing.reset()


@pytest.fixture
def make_hook(tenant):
    def make(url, **kwargs):
        return webhook_services.create_webhook(tenant, SYSTEM, url=url, **kwargs)

    # The receiver runs on 127.0.0.1.
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
        yield make


def scrape() -> dict:
    """{(sample name, frozenset of labels): value} of one authorized scrape."""
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-cache" in response["Cache-Control"]
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class Delta:
    """What one block of the test added to each sample."""

    def __enter__(self):
        self.before = scrape()
        return self

    def __exit__(self, *exc):
        self.after = scrape()

    def __call__(self, name, **labels):
        return value(self.after, name, **labels) - value(self.before, name, **labels)


# --- access ---------------------------------------------------------------------------------


def test_without_a_configured_token_the_endpoint_does_not_exist():
    with override_settings(METRICS_TOKEN=""):
        assert Client().get("/metrics").status_code == 404
        assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize(
    "header", [None, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN]
)
def test_a_missing_or_wrong_token_is_a_404(header):
    headers = {"Authorization": header} if header else {}
    response = Client().get("/metrics", headers=headers)
    assert response.status_code == 404
    assert b"tessera_" not in response.content


def test_the_right_token_reads_the_metrics():
    samples = scrape()
    assert any(name.startswith("tessera_request_duration_seconds") for name, _ in samples)


# --- counters -------------------------------------------------------------------------------


def test_a_verification_is_counted_by_its_code(tenant, api):
    agent = Agent.objects.create(tenant=tenant, name="bot")
    _, live = key_services.mint_key(tenant, SYSTEM, name="live", agent=agent)
    with Delta() as delta:
        assert api.post(VERIFY, {"key": live}).json()["code"] == "VALID"
        assert api.post(VERIFY, {"key": live}).json()["code"] == "VALID"
        assert api.post(VERIFY, {"key": "sk_agent_live_nope"}).json()["code"] == "NOT_FOUND"
    assert delta("tessera_key_verifications_total", code="VALID") == 2
    assert delta("tessera_key_verifications_total", code="NOT_FOUND") == 1


def test_authentications_are_counted_by_door_and_outcome(tenant, admin_key):
    revoked, revoked_secret = mint_admin_key(tenant, name="old")
    key_services.revoke_key(tenant, SYSTEM, revoked, reason="done")
    _, fenced = mint_admin_key(tenant, name="fenced", allowed_ips=["203.0.113.0/24"])
    with Delta() as delta:
        assert ApiClient(admin_key[1]).get(KEYS).status_code == 200
        assert ApiClient(revoked_secret).get(KEYS).status_code == 401
        assert ApiClient("lmk_not-even-a-key").get(KEYS).status_code == 401
        assert ApiClient(fenced).get(KEYS).status_code == 403
    assert delta("tessera_authentications_total", door="api_key", outcome="success") == 1
    assert delta("tessera_authentications_total", door="api_key", outcome="rejected") == 2
    assert delta("tessera_authentications_total", door="api_key", outcome="forbidden") == 1


def test_portal_sign_ins_are_counted(owner):
    with Delta() as delta:
        Client().post("/login", {"login": "owner@acme.test", "password": "wrong"})
        Client().post("/login", {"login": "owner@acme.test", "password": PASSWORD})
    assert delta("tessera_authentications_total", door="session", outcome="rejected") == 1
    assert delta("tessera_authentications_total", door="session", outcome="success") == 1


def test_a_rate_limited_request_is_counted(tenant):
    _, secret = mint_admin_key(tenant, name="slow", rate_limit_per_minute=1)
    with Delta() as delta:
        assert ApiClient(secret).get(KEYS).status_code == 200
        assert ApiClient(secret).get(KEYS).status_code == 429
    assert delta("tessera_rate_limited_total", limiter="rl") == 1


def test_tokens_issued_and_client_authentications_are_counted(oauth_client):
    client_id, secret = oauth_client
    with Delta() as delta:
        assert get_token(client_id, secret).status_code == 200
        wrong = secret[:-1] + ("x" if secret[-1] != "x" else "y")  # never the secret itself
        assert get_token(client_id, wrong).status_code == 401
    assert delta("tessera_oauth_tokens_issued_total") == 1
    assert delta("tessera_authentications_total", door="oauth_client", outcome="success") == 1
    assert delta("tessera_authentications_total", door="oauth_client", outcome="rejected") == 1


def test_webhook_attempts_are_counted_by_outcome(tenant, make_hook, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    httpserver.expect_ordered_request("/hook").respond_with_data("no", status=500)
    make_hook(httpserver.url_for("/hook"), event_types=[])  # hears its own creation
    with Delta() as delta:
        assert webhook_services.deliver_due() == 1
        webhook_services.send_test(tenant, SYSTEM, tenant.webhooks.get())
        assert webhook_services.deliver_due() == 1
    assert delta("tessera_webhook_attempts_total", outcome="success") == 1
    assert delta("tessera_webhook_attempts_total", outcome="http_error") == 1


# --- gauges and the histogram ---------------------------------------------------------------


def test_the_outbox_gauges_are_read_from_the_database(tenant, make_hook):
    hook, _ = make_hook("http://127.0.0.1:9/hook", event_types=[])  # one pending: its creation
    now = timezone.now()
    Delivery.objects.update(created_at=now - dt.timedelta(seconds=90))
    webhook_services.send_test(tenant, SYSTEM, hook, now=now)
    gauges = {
        family.name: family.samples[0].value
        for family in OutboxCollector(clock=lambda: now + dt.timedelta(seconds=10)).collect()
    }
    assert gauges == {
        "tessera_webhook_outbox_depth": 2,
        "tessera_webhook_outbox_oldest_age_seconds": 100,
    }
    assert value(scrape(), "tessera_webhook_outbox_depth") == 2
    Delivery.objects.update(status=Delivery.Status.DELIVERED)
    assert value(scrape(), "tessera_webhook_outbox_depth") == 0
    assert value(scrape(), "tessera_webhook_outbox_oldest_age_seconds") == 0


def test_request_durations_are_labelled_by_route_name_never_by_path(tenant, api):
    with Delta() as delta:
        assert api.get(KEYS).status_code == 200
        assert api.get(f"{KEYS}/00000000-0000-0000-0000-000000000000").status_code == 404
        assert Client().get("/no/such/page").status_code == 404
    count = "tessera_request_duration_seconds_count"
    assert delta(count, route="api:api-keys", method="GET", status="2xx") == 1
    assert delta(count, route="api:api-key", method="GET", status="4xx") == 1
    assert delta(count, route="unmatched", method="GET", status="4xx") == 1
    routes = {dict(labels).get("route") for _, labels in delta.after}
    assert not any("acme-corp" in r or "/" in r for r in routes if r)


def test_an_unknown_method_does_not_make_a_new_series(api):
    with Delta() as delta:
        api.generic("BREW", KEYS)
    assert (
        delta(
            "tessera_request_duration_seconds_count",
            route="api:api-keys",
            method="other",
            status="4xx",
        )
        == 1
    )
