import logging
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import patch_vary_headers

from portal import errors, outage
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
        if outage.is_down() and not getattr(request, "database_unavailable", False):
            outage.check_recovered()
        return response

    def process_exception(self, request, exception):
        if outage.is_unavailable(exception):
            return outage.respond(request, exception)
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
    """CSRF as Django does it, but only for requests that a session authenticates (SPEC §3).

    Under `/api/v1/`, authentication is decided before CSRF: a request that carries an API key
    (or token) header, or no logged-in session at all, is not checked here. The view then
    answers 401 to a request with no credential, whatever its method, and 400 to a session
    together with a key. A browser never adds a key header on its own, so a forged request can
    only ride on the session, and that is exactly what is still checked.
    """

    def process_view(self, request, callback, callback_args, callback_kwargs):
        if getattr(request, "is_api", False) and (
            request.META.get("HTTP_AUTHORIZATION")
            or request.META.get("HTTP_X_API_KEY")
            or not has_session_user(request)
        ):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


def has_session_user(request) -> bool:
    """Is a user logged in through the session? No query when no session cookie was sent."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def json_error(status: int, message: str | None = None) -> JsonResponse:
    err = errors.for_status(status, message)
    return JsonResponse(err.as_dict(), status=status)
