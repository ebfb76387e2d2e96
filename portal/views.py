import sys

from django.http import HttpResponseNotFound, HttpResponseServerError, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import outage, readiness
from portal.middleware import json_error


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and orchestrators)."""
    if not readiness.database_ok(request):
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """200 only when the database and every configured Redis answer; else 503 naming the ones
    that do not (SPEC §13). For orchestrators deciding whether to send this server traffic."""
    checks = {"database": readiness.database_ok(request)}
    if readiness.redis_urls():
        checks["redis"] = readiness.redis_ok()
    down = [name for name, ok in checks.items() if not ok]
    body = {
        "status": "unavailable" if down else "ok",
        "checks": {name: "ok" if ok else "down" for name, ok in checks.items()},
    }
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


def not_found(request, exception=None):
    if getattr(request, "is_api", False):
        return json_error(404)
    return HttpResponseNotFound(render_to_string("404.html", {}, request))


def server_error(request):
    # An error raised in middleware (a session loaded or saved) arrives here, not in
    # ApiMountMiddleware.process_exception: a database outage is a 503 here too.
    exc = sys.exc_info()[1]
    if outage.is_unavailable(exc):
        return outage.respond(request, exc)
    if getattr(request, "is_api", False):
        return json_error(500)
    return HttpResponseServerError(render_to_string("500.html"))
