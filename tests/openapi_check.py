"""Test-only middleware: every JSON response under /api/v1/ that the suite receives must match
the OpenAPI document (SPEC §12). Mismatches are collected in `MISMATCHES`; an autouse fixture in
tests/conftest.py fails the test that caused one."""

from functools import cache

from django.conf import settings
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse

from portal.middleware import API_PATH
from portal.openapi import document

MISMATCHES: list[str] = []


@cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(document())


def check(request, response) -> None:
    if not API_PATH.match(request.path_info) or getattr(response, "streaming", False):
        return
    ctype = response.get("Content-Type", "")
    if response.status_code != 204 and not ctype.startswith("application/json"):
        return
    req = MockRequest(
        "http://testserver",
        request.method,
        request.path_info,
        args=dict(request.GET.items()),
        headers=dict(request.headers),
        content_type=request.content_type or "application/json",
    )
    resp = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.items()),
        content_type=ctype.split(";")[0] or "application/json",
    )
    try:
        _openapi().validate_response(req, resp)
    except (PathNotFound, OperationNotFound):
        # An unknown path or method must be one of the documented error answers; routes that
        # only a test's own URLconf adds (benchmarks, error probes) are not the API's.
        if settings.ROOT_URLCONF == "portal.urls" and response.status_code not in (404, 405, 401):
            MISMATCHES.append(
                f"{request.method} {request.path_info}: undocumented, answered "
                f"{response.status_code}"
            )
    except Exception as exc:  # noqa: BLE001 - any validation error is a mismatch to report
        detail = getattr(exc, "__cause__", None) or exc
        MISMATCHES.append(
            f"{request.method} {request.path_info} → {response.status_code}: "
            f"{type(exc).__name__}: {detail}"[:2000]
        )


class OpenApiResponseCheck:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        check(request, response)
        return response
