from django.db import connection
from django.http import HttpResponseNotFound, HttpResponseServerError, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.middleware import json_error


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers, 503 otherwise (for load balancers and orchestrators)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def not_found(request, exception=None):
    if getattr(request, "is_api", False):
        return json_error(404)
    return HttpResponseNotFound(render_to_string("404.html", {}, request))


def server_error(request):
    if getattr(request, "is_api", False):
        return json_error(500)
    return HttpResponseServerError(render_to_string("500.html"))
