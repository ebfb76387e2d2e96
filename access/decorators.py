"""Tenant resolution and access control at the edge, in one decorator.

`tenant_view` resolves `/t/<tenant>/` once, authenticates (session for pages; API key or
session under `/api/v1/`), checks the member role or key scope, and sets `request.tenant` and
`request.actor`. The view receives the Tenant object; every query after that starts from it.
Another tenant's object is a 404, never a 403.
"""

import logging
from functools import cache, wraps

from django.apps import apps
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from access import events, keyformat, ratelimit, shared, tokens
from access.actor import Actor
from access.credentials import client_ip, get_credential
from access.keys import authenticate_key, deprecation_headers, fetch_keys, lookup_key
from access.rules import MANAGE_SELF, ip_permitted, key_problem, refusal, scope_allows
from portal.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)
from portal.middleware import has_session_user
from portal.respond import render_error

log = logging.getLogger("tessera.auth")

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Checks that bind a member's session (never a key) once the member may act: `tenants` adds the
# tenant's sign-in policy and confirm access (SPEC §14) from its AppConfig.ready(), so this
# layer knows no feature app. Each is `check(request, tenant, *, page) -> HttpResponse | None`:
# it answers a page (a redirect) or raises an ApiError (the API's 403).
SESSION_CHECKS: list = []


def add_session_check(check) -> None:
    if check not in SESSION_CHECKS:
        SESSION_CHECKS.append(check)


def _session_checks(request, tenant, *, page: bool):
    for check in SESSION_CHECKS:
        answer = check(request, tenant, page=page)
        if answer is not None:
            return answer
    return None


METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


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
    manages_self=False,
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
      the same query as the caller's key (`access.keys.authenticate_key`);
    - `manages_self`: the view replaces or deactivates the caller's own agent, which an access
      token may do only with the `manage:self` scope (the key itself always may).
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
                    also, also_ip = also if isinstance(also, tuple) else (also, None)
                    if raw is not None and shared.client() is not None:

                        def admits(key):
                            try:
                                _check_method(request, allowed_methods)
                                _check_key_kind(key, api)
                                needed = scope if safe else (write_scope or scope)
                                return api != "admin" or scope_allows(key.scopes, needed)
                            except ApiError:
                                return False

                        _round_trip(request, tenant, raw, also, also_ip, admits)
                    key = _authenticate(request, tenant, raw, also) if raw is not None else None
                except ApiError as exc:
                    return _refused(request, exc)
                if key is not None:
                    # Counted before the kind and scope checks, so every answer to an
                    # authenticated key (a 403 too) carries its RateLimit-* headers.
                    extra = _key_headers(key, request)
                    try:
                        _check_method(request, allowed_methods)
                        _check_key_kind(key, api)
                        needed = scope if safe else (write_scope or scope)
                        if api == "admin" and not scope_allows(key.scopes, needed):
                            raise Forbidden(f"This key lacks the '{needed}' scope.")
                        if manages_self and not tokens.may_manage_self(request):
                            raise Forbidden(f"This access token lacks the '{MANAGE_SELF}' scope.")
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
                    _session_checks(request, tenant_obj, page=False)
            else:
                if not request.user.is_authenticated:
                    return _to_login(request)
                _check_method(request, allowed_methods)
                tenant_obj, actor = _session_member(request, tenant, safe, role, write_role)
                answer = _session_checks(request, tenant_obj, page=True)
                if answer is not None:
                    return answer

            request.tenant = tenant_obj
            request.actor = actor
            if key is None:
                return view(request, tenant_obj, *args, **kwargs)

            events.record_use(key, client_ip(request), request)
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
    if tokens.looks_like_jwt(raw):
        return tokens.authenticate_token(request, tenant, raw)
    return authenticate_key(request, tenant, raw, also)


def _check_method(request, allowed_methods) -> None:
    """405 with `Allow`; checked after authentication so a key's answer carries its headers."""
    if request.method not in allowed_methods:
        allow = [m for m in METHOD_ORDER if m in allowed_methods]
        raise MethodNotAllowed(headers={"Allow": ", ".join(allow)})


def _round_trip(request, slug, raw, also, also_ip, admits) -> None:
    """With Redis as the cache: the request's key rows (from this process's memory while the
    tenant's credential epoch holds, else one SQL query), its rate-limit counts and its uses, in
    one round trip to Redis (`access.shared`). Leaves `request.keys_fetched`, `rate_counted`
    and `uses_handed` for the checks that follow, which decide exactly as they would without.

    `admits(key)`: the view would serve this key (method, kind, scope), so its use counts."""
    mine = keyformat.parse(raw)
    if mine is None or tokens.looks_like_jwt(raw):
        return
    other = keyformat.parse(also) if also else None
    ids = list(dict.fromkeys([mine.public_id] + ([other.public_id] if other else [])))
    ip = client_ip(request)
    planned = []

    def plan(rows):
        planned.clear()
        _, key = lookup_key(raw, rows)
        if key is None or key_problem(key, slug) or not ip_permitted(key, ip):
            return planned  # refused before it is counted
        admitted = admits(key)
        planned.append(ratelimit.planned(key, use=_use(key, ip) if admitted else None, gate=True))
        if admitted and other is not None:
            _, verified = lookup_key(also, rows)
            if verified is not None and refusal(verified, slug, also_ip) is None:
                planned.append(ratelimit.planned(verified, use=_use(verified, also_ip)))
        return list(planned)

    try:
        rows, counted = shared.resolve(slug, ids, _fetch_with_access, plan)
    except Exception:
        log.warning("Redis unavailable: reading key rows from the database", exc_info=True)
        return
    request.keys_fetched = rows
    request.rate_counted = counted
    seen: dict = {}
    handed = []
    for hit in planned:
        results = counted.get(hit.public_id, [])
        index = seen[hit.public_id] = seen.get(hit.public_id, -1) + 1
        if hit.use and index < len(results) and _admitted(hit, results[index]):
            handed.append(hit.public_id)
    request.uses_handed = handed


def _admitted(hit, counts) -> bool:
    return all(sum(counts.get(n, 0) for n in names) <= limit for limit, names in hit.checks)


def _use(key, ip):
    return events.shared_use(key, ip) if events.shared_use else None


def _fetch_with_access(public_ids):
    return fetch_keys(public_ids, with_access=True)


def _key_headers(key, request=None) -> dict:
    """Count the request against the key's rate limit (429 past it) and return the headers every
    answer to this key carries: RateLimit-*, and Deprecation/Sunset for a deprecated key."""
    extra = deprecation_headers(key)
    try:
        return {**ratelimit.spend(key, request=request), **extra}
    except ApiError as exc:
        exc.headers.update(extra)
        raise


def _refused(request, exc: ApiError):
    """The answer to a credential that is refused (400/401/403), rendered here rather than
    raised: it is the most frequent error of an API, `access` has already logged it (with
    the reason and the key's prefix, never the secret), and Django would log it once more as a
    4xx warning."""
    response = render_error(request, exc)
    response._has_been_logged = True
    return response


def _add_headers(exc: Exception, extra: dict) -> None:
    if hasattr(exc, "headers"):
        for name, value in extra.items():
            exc.headers.setdefault(name, value)


def _check_key_kind(key, api: str) -> None:
    if api == "admin" and key.kind != keyformat.ADMIN:
        raise Forbidden("Agent keys cannot call the admin API.")
    if api == "agent" and key.kind != keyformat.AGENT:
        raise Forbidden("Only agent keys can call the agent runtime API.")


def _session_member(request, slug, safe, role, write_role):
    membership = (
        _membership_model()
        .objects.select_related("tenant")
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


@cache
def _membership_model():
    # By name: `access` sits below the feature apps and imports none of them.
    return apps.get_model("tenants", "Membership")


def _to_login(request):
    if getattr(request, "htmx", None):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = redirect_to_login(request.get_full_path()).url
        return response
    return redirect_to_login(request.get_full_path())


def get_or_404(queryset, **lookup):
    """Fetch one object from a tenant-scoped queryset; anything else (or a bad id) is a 404."""
    if any(isinstance(v, str) and "\x00" in v for v in lookup.values()):
        raise NotFound()  # PostgreSQL refuses NUL in text (a DataError, a 500): no such object
    try:
        obj = queryset.filter(**lookup).first()
    except (ValidationError, ValueError):
        obj = None
    if obj is None:
        raise NotFound()
    return obj
