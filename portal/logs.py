"""Structured logs (SPEC §13): `LOG_FORMAT=json` makes every log line one JSON object.

- `JsonFormatter`: one object per record (`time`, `level`, `logger`, `message`, `pid`, the
  current `requestId`, and the record's `fields`). Importable before Django is set up, so
  gunicorn's own log lines use it too (gunicorn.conf.py).
- `RequestLogMiddleware`: outermost; gives each request an id (`X-Request-ID` of a trusted proxy,
  else a new one; echoed in the response), times it into the request-duration histogram by
  route name, and logs it once on `tessera.request`.
- `log_job_run(name)`: a context manager that logs one line per run of a worker job on
  `tessera.jobs` and counts it in `tessera_job_runs`.

A secret never reaches a log line: the code logs a credential's public prefix only, and the
formatter still masks anything shaped like a key, refresh token, access token or webhook secret.
"""

import contextvars
import json
import logging
import os
import re
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

from portal.proxies import peer_is_trusted_proxy

request_log = logging.getLogger("tessera.request")
job_log = logging.getLogger("tessera.jobs")

_request_id = contextvars.ContextVar("tessera_request_id", default=None)
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")

# Whatever a message says, these never leave the process in full.
_MASKS = (
    # API keys and refresh tokens: the public prefix stays, the secret and checksum go.
    (re.compile(r"\b(lmk_|sk_agent_live_|rt_)([0-9A-Za-z]{12})[0-9A-Za-z]{8,}"), r"\1\2…"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), "whsec_…"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+"), "eyJ…"),
)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def current_request_id() -> str | None:
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line. `extra={"fields": {...}}` adds fields to the object."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
            "pid": record.process or os.getpid(),
        }
        request_id = _request_id.get()
        if request_id:
            entry["requestId"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def logging_config(log_format: str, level: str) -> dict:
    """The LOGGING dict of settings: plain text lines, or one JSON object per line."""
    json_lines = log_format == "json"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "portal.logs.JsonFormatter"},
        },
        # A database outage is logged once by portal.outage, not once per 503 it answers.
        "filters": {"outage": {"()": "portal.outage.OutageLogFilter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "plain",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"filters": ["outage"]},
            # runserver prints its own start-up and request lines; don't log them a second time.
            "django.server": {"level": "WARNING"},
            "django.utils.autoreload": {"level": "WARNING"},
            # One line per request in JSON; in text, gunicorn's access log already has it.
            "tessera.request": {"level": "INFO" if json_lines else "WARNING"},
        },
    }


# --- requests -------------------------------------------------------------------------------


def request_id_for(request) -> str:
    """The proxy's `X-Request-ID` when the peer is a trusted proxy and the id is sane, else new."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if given and REQUEST_ID_RE.fullmatch(given) and peer_is_trusted_proxy(request):
        return given
    return uuid.uuid4().hex


def route_name(request) -> str:
    """The URL pattern's name (`api:api-keys`), never the raw path: ids and slugs stay out."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    from django.conf import settings

    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


def _credential(request) -> tuple[str | None, str | None]:
    """(kind, public prefix) of the credential that authenticated the request, if any."""
    actor = getattr(request, "actor", None)
    key = getattr(actor, "key", None)
    if key is not None:
        kind = "oauth_token" if getattr(request, "oauth_claims", None) else "api_key"
        return kind, key.prefix
    if actor is not None and actor.type == "user":
        return "session", None
    return None, None


class RequestLogMiddleware:
    """Outermost: the request id, the duration histogram and one log line per request."""

    def __init__(self, get_response):
        # Imported here, not at the top: gunicorn's master loads this module for the formatter
        # and must not make metric files of its own.
        from portal import metrics

        self.get_response = get_response
        self.metrics = metrics

    def __call__(self, request):
        start = time.perf_counter()
        request_id = request_id_for(request)
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - start
            response["X-Request-ID"] = request_id
            route = route_name(request)
            self.metrics.observe_request(route, request.method, response.status_code, duration)
            if request_log.isEnabledFor(logging.INFO):
                kind, prefix = _credential(request)
                tenant = getattr(request, "tenant", None)
                request_log.info(
                    "%s %s %s",
                    request.method,
                    route,
                    response.status_code,
                    extra={
                        "fields": {
                            "tenant": getattr(tenant, "slug", None),
                            "method": request.method,
                            "route": route,
                            "status": response.status_code,
                            "durationMs": round(duration * 1000, 2),
                            "credential": kind,
                            "credentialPrefix": prefix,
                        }
                    },
                )
            return response
        finally:
            _request_id.reset(token)


# --- worker jobs ----------------------------------------------------------------------------


@contextmanager
def log_job_run(name: str, **fields):
    """Wrap one run of a worker job: one line on `tessera.jobs` with its duration and outcome
    (`ok` or `error`; the exception is logged with it and raised again), counted in
    `tessera_job_runs`. The body may add fields to the line: `with log_job_run("prune") as
    run: run["pruned"] = n`. A run that sets `run["quiet"] = True` (a queue polled and found
    empty) is counted but logged at DEBUG, so an idle worker does not write a line a second."""
    run = dict(fields)
    start = time.perf_counter()
    try:
        yield run
    except Exception:
        _job_done(name, run, start, "error")
        raise
    _job_done(name, run, start, "ok")


def _job_done(name: str, run: dict, start: float, outcome: str) -> None:
    from portal import metrics

    quiet = run.pop("quiet", False)
    metrics.JOB_RUNS.labels(name, outcome).inc()
    job_log.log(
        logging.ERROR if outcome == "error" else logging.DEBUG if quiet else logging.INFO,
        "job %s %s",
        name,
        outcome,
        exc_info=outcome == "error",
        extra={
            "fields": {
                **run,
                "job": name,
                "outcome": outcome,
                "durationMs": round((time.perf_counter() - start) * 1000, 2),
            }
        },
    )
