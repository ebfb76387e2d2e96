"""Database outages (SPEC §4): while the database cannot be reached every request answers 503
`service_unavailable` with `Retry-After` (JSON under /api/v1/, a page in the portal), never a
500, and the outage is logged once per process, not once per request, then once when it ends.

The 503 is made in two places: `ApiMountMiddleware.process_exception` for errors raised in a
view (and the tenant decorator), and the 500 handler (`portal.views.server_error`) for errors
raised in middleware before or after the view (a session loaded or saved). `OutageLogFilter`
keeps Django's request logger from writing a traceback or a line for each of those 503s.
"""

import logging
import threading

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse
from django.template.loader import render_to_string

from portal import errors
from portal.respond import render_error

try:  # the driver's own errors, in case one escapes Django's wrapping
    import psycopg

    _DRIVER_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover (SQLite-only installs)
    _DRIVER_ERRORS = ()

UNAVAILABLE = (OperationalError, InterfaceError, *_DRIVER_ERRORS)
RETRY_AFTER_SECONDS = 5
MESSAGE = "The database is unavailable; please retry shortly."

log = logging.getLogger("tessera")
_lock = threading.Lock()
_down = False


def is_unavailable(exc) -> bool:
    """Is `exc` the database failing to answer (as opposed to a bug or bad input)?"""
    return isinstance(exc, UNAVAILABLE)


def is_down() -> bool:
    return _down


def failed(exc) -> None:
    """Note a failed database call; only the first one of an outage is logged."""
    global _down
    with _lock:
        if _down:
            return
        _down = True
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    log.error("database unavailable, answering 503 until it is back: %s", detail[:300])


def recovered() -> None:
    global _down
    with _lock:
        if not _down:
            return
        _down = False
    log.warning("database reachable again")


def require_database() -> None:
    """Raise the outage's own error now if the database does not answer: for a page that needs
    no query to render but cannot work without the database (the login form), so that it shows
    the 503 page instead of a form whose post would fail."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_recovered() -> None:
    """While down, one cheap query after a request decides whether the outage is over."""
    if not _down:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # still down (or failing otherwise): never turn a response into a 500
        return
    recovered()


def respond(request, exc) -> HttpResponse:
    """The 503 for `request`: SPEC §4 JSON under /api/v1/, else a page that needs no database."""
    failed(exc)
    request.database_unavailable = True
    if getattr(request, "is_api", False):
        error = errors.ServiceUnavailable(
            MESSAGE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
        return render_error(request, error)
    # Rendered without the request: context processors would query the database again.
    response = HttpResponse(render_to_string("503.html", {"message": MESSAGE}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageLogFilter(logging.Filter):
    """For `django.request`: drop the per-request records of an outage's 503s (the outage
    itself is logged once by `failed`)."""

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_unavailable(exc):
            return False
        request = getattr(record, "request", None)
        return not getattr(request, "database_unavailable", False)
