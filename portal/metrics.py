"""Prometheus metrics (SPEC §13): the definitions, one-line helpers for the places that decide,
and `GET /metrics`.

Under gunicorn every worker is its own process, so the counters live in files under
`PROMETHEUS_MULTIPROC_DIR` (gunicorn.conf.py makes one per start when it is not set) and a
scrape sums every process's files, including those of workers that have since exited. Without
that variable (runserver, the test suite) they are plain in-process values.

Gauges that need a feature's tables are computed at scrape time by collectors the app registers
with `add_scrape_collector` (portal imports no feature app): they read the database, never a
stale per-process value.
"""

import hmac
import os
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REGISTRY = CollectorRegistry()
# The Prometheus text format that `generate_latest` writes (every Prometheus reads it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

AUTHENTICATIONS = Counter(
    "tessera_authentications",
    "Credentials checked, by door (api_key, oauth_token, oauth_client, password) and outcome "
    "(success, rejected, forbidden, rate_limited, error).",
    ["door", "outcome"],
    registry=REGISTRY,
)
VERIFICATIONS = Counter(
    "tessera_key_verifications",
    "POST /keys/verify answers, by code (VALID, NOT_FOUND, REVOKED, ...).",
    ["code"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "tessera_rate_limited",
    "Requests refused by a rate limit, by limiter (rl: a key or agent, leak: leaked-key reports).",
    ["limiter"],
    registry=REGISTRY,
)
TOKENS_ISSUED = Counter(
    "tessera_oauth_tokens_issued",
    "OAuth access tokens issued (client credentials and refreshes).",
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "tessera_webhook_attempts",
    "Webhook delivery attempts recorded, by outcome (success, http_error, network_error).",
    ["outcome"],
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "tessera_job_runs",
    "Scheduled job runs of the worker, by job and outcome (ok, error).",
    ["job", "outcome"],
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    "tessera_request_duration_seconds",
    "Time to answer a request, by route name (never the raw path), method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_scrape_collectors = []


def add_scrape_collector(collector) -> None:
    """Register an object whose `collect()` yields metric families at each scrape (a feature
    app's gauges, read from its tables). Called from an AppConfig.ready()."""
    if not any(type(c) is type(collector) for c in _scrape_collectors):
        _scrape_collectors.append(collector)


# --- one-line helpers for the places that decide ----------------------------------------------


def counts_authentication(door: str):
    """Decorate a function that authenticates a credential: its return is a `success` of
    `door`; an error it raises is counted by its status: `forbidden` (403, an IP outside the
    allowlist), `rate_limited` (429), `rejected` (any other 4xx: unknown, revoked, expired,
    wrong password...) or `error` (anything else, a database outage say)."""

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                AUTHENTICATIONS.labels(door, _outcome(getattr(exc, "status", 500))).inc()
                raise
            AUTHENTICATIONS.labels(door, "success").inc()
            return result

        return wrapper

    return decorator


def _outcome(status: int) -> str:
    if status == 403:
        return "forbidden"
    if status == 429:
        return "rate_limited"
    return "rejected" if 400 <= status < 500 else "error"


def rate_limited(counter_name: str) -> None:
    """A rate-limit counter named `<limiter>:<id>` refused a request."""
    RATE_LIMITED.labels(counter_name.partition(":")[0]).inc()


def webhook_attempt(status_code: int | None) -> None:
    if status_code is None:
        outcome = "network_error"
    elif 200 <= status_code < 300:
        outcome = "success"
    else:
        outcome = "http_error"
    WEBHOOK_ATTEMPTS.labels(outcome).inc()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    REQUEST_DURATION.labels(route, method, f"{status // 100}xx").observe(seconds)


# --- exposition ---------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


class _Local:
    """This process's own values (single-process mode), as one collector of the scrape."""

    def collect(self):
        return REGISTRY.collect()


def exposition() -> bytes:
    """The text format of every metric: every process's counters and the scrape-time gauges."""
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Local())
    for collector in _scrape_collectors:
        registry.register(collector)
    return generate_latest(registry)


def _authorized(request) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>`, compared in constant time."""
    expected = settings.METRICS_TOKEN
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


@never_cache
@require_GET
def metrics_view(request):
    """GET /metrics. Without METRICS_TOKEN configured, or with a wrong or missing token, a 404:
    the endpoint does not admit it exists to someone who cannot read it."""
    if not settings.METRICS_TOKEN or not _authorized(request):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE)
