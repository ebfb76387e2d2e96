import logging
import re

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import patch_vary_headers

from portal import errors
from portal.respond import render_error

log = logging.getLogger("tessera")

API_PATH = re.compile(r"^(?:/(?:t|orgs)/[^/]+)?/api/v1(?:/|$)")


class ApiMountMiddleware:
    """Marks `/api/v1/` requests and makes every error there a SPEC §4 JSON body.

    Covers errors from views (domain errors, 404, 403, 413, unexpected 500s) and responses made
    elsewhere (unknown URL 404, Django's 405, CSRF failures).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.is_api = bool(API_PATH.match(request.path_info))
        response = self.get_response(request)
        if request.is_api:
            if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
                "application/json"
            ):
                converted = render_error(request, errors.for_status(response.status_code))
                for header in ("Allow", "WWW-Authenticate", "Retry-After"):
                    if header in response:
                        converted[header] = response[header]
                response = converted
        else:
            patch_vary_headers(response, ("HX-Request",))
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, errors.ApiError):
            return render_error(request, exception)
        if not getattr(request, "is_api", False):
            return None
        if isinstance(exception, Http404):
            return render_error(request, errors.NotFound())
        if isinstance(exception, PermissionDenied):
            return render_error(request, errors.Forbidden())
        if isinstance(exception, RequestDataTooBig):
            return render_error(request, errors.PayloadTooLarge())
        if isinstance(exception, SuspiciousOperation):
            return render_error(request, errors.BadRequest())
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(request, errors.ApiError())


class ApiAwareCsrfMiddleware(CsrfViewMiddleware):
    """CSRF as Django does it, except for API calls that carry an API key header.

    A key header is not sent by browsers on their own, so it needs no CSRF token; a session
    on the JSON API still does.
    """

    def process_view(self, request, callback, callback_args, callback_kwargs):
        if getattr(request, "is_api", False) and (
            request.META.get("HTTP_AUTHORIZATION") or request.META.get("HTTP_X_API_KEY")
        ):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


def json_error(status: int, message: str | None = None) -> JsonResponse:
    err = errors.for_status(status, message)
    return JsonResponse(err.as_dict(), status=status)
