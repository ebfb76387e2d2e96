"""One way out of every view: full page, HTMX fragment or JSON, chosen by the mount.

- under `/api/v1/` → JSON (never by `Accept`);
- `request.htmx and not boosted` → the named partial (`template.html#partial`);
- otherwise the full page (or a 303 redirect after a successful non-secret action).
"""

import json
import logging
from functools import lru_cache

from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string

from portal.errors import ApiError, Invalid

log = logging.getLogger("tessera")


def wants_fragment(request) -> bool:
    htmx = getattr(request, "htmx", None)
    # A history restore (Back to a pushed URL htmx holds no snapshot of) swaps the answer in as
    # the whole body, so it needs the full page.
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def _resolve(value):
    return value() if callable(value) else value


def respond(
    request,
    template: str | None = None,
    context=None,
    *,
    json=None,
    status: int = 200,
    secret: bool = False,
    redirect: str | None = None,
    headers: dict | None = None,
):
    """Render the result of a view. `context` and `json` may be callables, built only if used.

    `secret=True` marks a response that carries a key: `Cache-Control: no-store`, and never a
    redirect (the key lives only in this response's body). A `redirect` given with it is where
    the address bar is moved instead (`replace_url`, read by portal.js), so a reload or a
    bookmark fetches that page, not the form's action.
    """
    if request.is_api:
        if status == 204:
            response = HttpResponse(status=204)
            del response["Content-Type"]  # no body, so no type
        else:
            response = JsonResponse(_resolve(json), status=status, safe=False)
    elif redirect and not secret and not wants_fragment(request):
        response = HttpResponseRedirect(redirect, status=303)
    else:
        ctx = _resolve(context) or {}
        if secret and redirect:
            ctx = {**ctx, "replace_url": redirect}
        fragment = wants_fragment(request)
        name = template if fragment else template.split("#", 1)[0]
        html_status = status if status != 204 else 200
        body = render_to_string(name, ctx, request)
        if fragment:
            body += _flash_out_of_band(request)
        response = HttpResponse(body, status=html_status)
    if secret:
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def notify(request, text: str) -> None:
    """A flash message after a portal form post: on the next page, or beside the fragment."""
    if not request.is_api:
        messages.success(request, text)


def _flash_out_of_band(request) -> str:
    """Messages queued by an in-place update ("Role created."), swapped into #flash by htmx
    beside the fragment, so they show with JavaScript as after a full page load."""
    pending = list(get_messages(request))
    if not pending:
        return ""
    return render_to_string("portal/_flash.html", {"messages": pending, "oob": True}, request)


def _error_json(code, message, status, details) -> bytes:
    if details:
        body = ApiError.body(code, message, status, details)
        return json.dumps(body, cls=DjangoJSONEncoder).encode()
    return _plain_error_json(code, str(message), status)


@lru_cache(maxsize=256)
def _plain_error_json(code, message, status) -> bytes:
    # The same few refusals (a bad key's 401 above all) are answered over and over: encode
    # each once. Bounded, and only server-written messages without details are kept.
    return json.dumps(ApiError.body(code, message, status), cls=DjangoJSONEncoder).encode()


def render_error(request, exc: ApiError):
    """Render a domain error: SPEC §4 JSON under /api/v1/, else an HTML page or fragment."""
    if getattr(request, "is_api", False):
        response = HttpResponse(
            _error_json(exc.code, exc.message, exc.status, exc.details),
            content_type="application/json",
            status=exc.status,
        )
    else:
        ctx = {"error": exc, "details": exc.details or {}}
        page = getattr(request, "error_page", None)
        if wants_fragment(request):
            response = HttpResponse(
                render_to_string("portal/_error.html", ctx, request), status=exc.status
            )
            response["HX-Retarget"] = "#flash"
            response["HX-Reswap"] = "innerHTML"
        else:
            response = None
            if page is not None and isinstance(exc, Invalid):
                # A form post without JavaScript: show the page again with the messages.
                try:
                    template, page_ctx = page(request)
                except ApiError:
                    # The page cannot be built either (a bad query string it reads too):
                    # the plain error page, never a 500.
                    pass
                else:
                    page_ctx = {**page_ctx, **ctx, "form_data": request.POST}
                    response = HttpResponse(
                        render_to_string(template, page_ctx, request), status=exc.status
                    )
            if response is None:
                response = HttpResponse(
                    render_to_string("error.html", ctx, request), status=exc.status
                )
    for name, value in exc.headers.items():
        response[name] = value
    return response
