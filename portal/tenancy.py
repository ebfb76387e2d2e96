"""Tenant resolution and access control at the edge, in one decorator.

`tenant_view` resolves `/t/<tenant>/` once, authenticates (session for pages; API key or
session under `/api/v1/`), checks the member role or key scope, and sets `request.tenant` and
`request.actor`. The view receives the Tenant object; every query after that starts from it.
Another tenant's object is a 404, never a 403.
"""

from email.utils import format_datetime
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse

from apikeys import usage
from apikeys.models import ApiKey
from portal import ratelimit
from portal.auth import Actor, authenticate_key, client_ip, get_credential
from portal.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    Unauthorized,
)
from portal.middleware import has_session_user
from portal.respond import render_error
from tenants import auth as signin
from tenants.models import Membership

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def scope_allows(scopes: list[str] | None, needed: str | None) -> bool:
    """Empty scopes mean full admin. `x:write` implies `x:read`."""
    if not scopes or needed is None:
        return True
    if needed in scopes:
        return True
    resource, _, action = needed.partition(":")
    return action == "read" and f"{resource}:write" in scopes


def tenant_view(
    *,
    scope: str | None = None,
    write_scope: str | None = None,
    role: str = "viewer",
    write_role: str = "admin",
    api: str = "admin",
    methods=("GET", "POST"),
    api_only=(),
    page=None,
    fetch_also=None,
):
    """Guard a view mounted under `/t/<tenant>/portal/` and/or `/t/<tenant>/api/v1/`.

    - `methods`: the methods the view takes; `api_only`: those of them that only the API mount
      takes (PUT/PATCH/DELETE), where the portal posts a form instead, so POST is then the
      portal's alone. A method the mount does not take is a 405 whose `Allow` lists what that
      mount takes, so the API's never names the portal's form post;
    - `scope`/`write_scope`: admin key scope needed for safe/unsafe methods;
    - `role`/`write_role`: member role needed for safe/unsafe methods;
    - `api`: "admin" (admin keys or a session), "agent" (agent keys only);
    - `page(request) -> (template, context)`: the full page to re-render a form post's errors on;
    - `fetch_also(request) -> str | None`: another key string the view will look up, fetched in
      the same query as the caller's key (`portal.auth.authenticate_key`).
    """
    portal_methods = {m.upper() for m in methods}
    if "GET" in portal_methods:
        portal_methods.add("HEAD")
    api_methods = portal_methods - ({"POST"} if api_only else set())
    portal_methods -= {m.upper() for m in api_only}

    def decorator(view):
        @wraps(view)
        def wrapper(request, tenant, *args, **kwargs):
            safe = request.method in SAFE_METHODS
            request.error_page = page
            allowed_methods = api_methods if request.is_api else portal_methods
            key = None
            if request.is_api:
                try:
                    raw = get_credential(request)
                    if raw is not None and has_session_user(request):
                        raise BadRequest(
                            "Send one credential: this request carries both a logged-in "
                            "session and an API key."
                        )
                    also = fetch_also(request) if fetch_also and raw is not None else None
                    key = _authenticate(request, tenant, raw, also) if raw is not None else None
                except ApiError as exc:
                    return _refused(request, exc)
                if key is not None:
                    # Counted before the kind and scope checks, so every answer to an
                    # authenticated key (a 403 too) carries its RateLimit-* headers.
                    extra = _key_headers(key)
                    try:
                        _check_method(request, allowed_methods)
                        _check_key_kind(key, api)
                        needed = scope if safe else (write_scope or scope)
                        if api == "admin" and not scope_allows(key.scopes, needed):
                            raise Forbidden(f"This key lacks the '{needed}' scope.")
                    except ApiError as exc:
                        _add_headers(exc, extra)
                        raise
                    tenant_obj = key.tenant
                    actor = Actor.for_key(key, request)
                elif api == "agent" or not request.user.is_authenticated:
                    raise Unauthorized()
                else:
                    _check_method(request, allowed_methods)
                    tenant_obj, actor = _session_member(request, tenant, safe, role, write_role)
                    # The tenant's sign-in policy (SPEC §14) binds sessions; keys are unaffected.
                    refusal = signin.session_refusal(request, tenant_obj)
                    if refusal:
                        raise Forbidden(signin.refusal_message(refusal, tenant_obj))
            else:
                if not request.user.is_authenticated:
                    return _to_login(request)
                _check_method(request, allowed_methods)
                tenant_obj, actor = _session_member(request, tenant, safe, role, write_role)
                refusal = signin.session_refusal(request, tenant_obj)
                if refusal:
                    return signin.refusal_redirect(request, refusal, tenant_obj)
                signin.require_confirmed_access(request)

            request.tenant = tenant_obj
            request.actor = actor
            if key is None:
                return view(request, tenant_obj, *args, **kwargs)

            usage.record_use(key, client_ip(request))
            try:
                response = view(request, tenant_obj, *args, **kwargs)
            except Exception as exc:
                _add_headers(exc, extra)
                raise
            for name, value in extra.items():
                response[name] = value
            return response

        wrapper.tenant_view = True
        # Read by the CSRF middleware: CSRF guards only requests that a session authenticates.
        wrapper.session_authenticates = api != "agent"
        return wrapper

    return decorator


def _authenticate(request, tenant, raw, also):
    """An API key, or an OAuth access token (a JWT) acting as the key that minted it."""
    from oauth import tokens  # oauth builds on this module

    if tokens.looks_like_jwt(raw):
        return tokens.authenticate_token(request, tenant, raw)
    return authenticate_key(request, tenant, raw, also)


def _check_method(request, allowed_methods) -> None:
    """405 with `Allow`; checked after authentication so a key's answer carries its headers."""
    if request.method not in allowed_methods:
        allow = [m for m in METHOD_ORDER if m in allowed_methods]
        raise MethodNotAllowed(headers={"Allow": ", ".join(allow)})


def _key_headers(key: ApiKey) -> dict:
    """Count the request against the key's rate limit (429 past it) and return the headers every
    answer to this key carries: RateLimit-*, and Deprecation/Sunset for a deprecated key."""
    state = ratelimit.hit(key)
    extra = state.headers()
    if key.status == ApiKey.Status.DEPRECATED:
        extra["Deprecation"] = f"@{int(key.deprecated_at.timestamp())}"
        if key.expires_at:
            extra["Sunset"] = format_datetime(key.expires_at, usegmt=True)
    if state.exceeded:
        raise RateLimited(headers={**extra, "Retry-After": str(state.reset)})
    return extra


def _refused(request, exc: ApiError):
    """The answer to a credential that is refused (400/401/403), rendered here rather than
    raised: it is the most frequent error of an API, `portal.auth` has already logged it (with
    the reason and the key's prefix, never the secret), and Django would log it once more as a
    4xx warning."""
    response = render_error(request, exc)
    response._has_been_logged = True
    return response


def _add_headers(exc: Exception, extra: dict) -> None:
    if hasattr(exc, "headers"):
        for name, value in extra.items():
            exc.headers.setdefault(name, value)


def _check_key_kind(key: ApiKey, api: str) -> None:
    if api == "admin" and key.kind != ApiKey.Kind.ADMIN:
        raise Forbidden("Agent keys cannot call the admin API.")
    if api == "agent" and key.kind != ApiKey.Kind.AGENT:
        raise Forbidden("Only agent keys can call the agent runtime API.")


def _session_member(request, slug, safe, role, write_role):
    membership = (
        Membership.objects.select_related("tenant")
        .filter(tenant__slug=slug, user=request.user)
        .first()
        if "\x00" not in slug
        else None
    )
    if membership is None:
        raise NotFound()
    needed = role if safe else write_role
    if not membership.allows(needed):
        raise Forbidden(f"This needs the {needed} role.")
    request.membership = membership
    return membership.tenant, Actor.for_user(request.user, request, membership)


def _to_login(request):
    if getattr(request, "htmx", None):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = redirect_to_login(request.get_full_path()).url
        return response
    return redirect_to_login(request.get_full_path())


def get_or_404(queryset, **lookup):
    """Fetch one object from a tenant-scoped queryset; anything else (or a bad id) is a 404."""
    from django.core.exceptions import ValidationError

    if any(isinstance(v, str) and "\x00" in v for v in lookup.values()):
        raise NotFound()  # PostgreSQL refuses NUL in text (a DataError, a 500): no such object
    try:
        obj = queryset.filter(**lookup).first()
    except (ValidationError, ValueError):
        obj = None
    if obj is None:
        raise NotFound()
    return obj
