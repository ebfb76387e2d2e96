import sys

from django.db import connection
from django.http import HttpResponseNotFound, HttpResponseServerError, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import outage
from portal.middleware import json_error


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and orchestrators)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        if outage.is_unavailable(exc):
            outage.failed(exc)
            request.database_unavailable = True
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


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
