"""OAuth 2.0 endpoints (SPEC §10), open to anyone: they authenticate the client themselves.

Bodies are form-encoded (RFC 6749) or JSON (seed 003). Errors are RFC codes in Tessera's shape
(`portal.errors.OAuthError`); a 403, 413, 415 or 429 uses SPEC §4's codes.
"""

import base64
import binascii
import re
from functools import wraps
from urllib.parse import unquote_plus

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from access import clients, keyformat, signing, tokens
from access.credentials import client_ip, get_credential
from access.decorators import tenant_view
from access.keys import authenticate_key
from access.rules import MANAGE_SELF, MAX_PERMISSIONS, is_permission, scope_allows
from idempotency.decorators import idempotent
from oauth import services
from portal import metrics
from portal.errors import (
    Forbidden,
    MethodNotAllowed,
    NotFound,
    OAuthError,
    Unauthorized,
    invalid_client,
    invalid_request,
)
from portal.respond import respond
from portal.validation import clean_name, has_unstorable_text, read_body

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")


def oauth_endpoint(view):
    """POST only, no CSRF (no session is involved), OAuth errors rendered in one place."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, tenant, *args, **kwargs):
        if request.method != "POST":
            raise MethodNotAllowed(headers={"Allow": "POST"})
        try:
            return view(request, tenant, *args, **kwargs)
        except OAuthError as exc:
            response = JsonResponse(exc.as_dict(), status=exc.status)
            for name, value in exc.headers.items():
                response[name] = value
            response["Cache-Control"] = "no-store"
            return response

    return wrapper


def read_params(request) -> dict:
    """The body as a dict of strings: form-encoded or JSON. A repeated parameter is refused."""
    if request.content_type == "application/x-www-form-urlencoded":
        data = {}
        for name, values in request.POST.lists():
            if len(values) > 1:
                raise invalid_request(f"Parameter '{name}' is repeated.")
            data[name] = values[0]
        return data
    data = read_body(request)
    for name, value in data.items():
        if value is not None and not isinstance(value, str):
            raise invalid_request(f"Parameter '{name}' must be a string.")
    return data


def client_credentials(request, params) -> tuple[str, str] | None:
    """(client_id, client_secret) from HTTP Basic or the body; both at once is a 400."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    in_body = "client_secret" in params
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise invalid_client("Use HTTP Basic or client_id and client_secret in the body.")
        if in_body:
            raise invalid_request("Send client credentials once: HTTP Basic or the body.")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise invalid_client() from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise invalid_client()
        return unquote_plus(client_id), unquote_plus(secret)
    if in_body:
        return params.get("client_id") or "", params.get("client_secret") or ""
    return None


def token_response(issued: services.Issued, headers: dict) -> JsonResponse:
    metrics.TOKENS_ISSUED.inc()
    response = JsonResponse(issued.as_dict())
    for name, value in headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _authenticated_client(request, tenant, params, *, required: bool):
    creds = client_credentials(request, params)
    if creds is None:
        if required:
            raise invalid_client()
        return None
    return clients.authenticate_client(request, tenant, creds[0], creds[1])


@oauth_endpoint
def token(request, tenant, default_grant=None):
    """Token endpoint: client credentials (a new grant) or a refresh token (its next step)."""
    params = read_params(request)
    grant_type = params.get("grant_type") or default_grant
    if grant_type == "client_credentials":
        key = _authenticated_client(request, tenant, params, required=True)
        headers = services.spend(key, client_ip(request))
        return token_response(services.issue_client_credentials(key, params.get("scope")), headers)
    if grant_type == "refresh_token":
        key = _authenticated_client(request, tenant, params, required=False)
        raw = params.get("refresh_token")
        if not raw:
            raise invalid_request("refresh_token is required.")
        issued, headers = services.refresh(tenant, raw, client_ip(request), client_key=key)
        return token_response(issued, headers)
    if not grant_type:
        raise invalid_request("grant_type is required.")
    raise OAuthError("unsupported_grant_type", f"Unsupported grant_type '{grant_type}'.")


@csrf_exempt
def refresh(request, tenant):
    """Seed 003's `POST /oauth/refresh`: the refresh grant with its JSON body."""
    return token(request, tenant, default_grant="refresh_token")


def _well_known(request, tenant, body):
    """No database query: the tenant is not looked up (every slug gets its own issuer's document,
    which names no secret and proves nothing), so the documents cannot enumerate tenants."""
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(headers={"Allow": "GET, HEAD"})
    if not SLUG_RE.match(tenant):
        raise NotFound()
    response = JsonResponse(body())
    response["Cache-Control"] = f"public, max-age={signing.JWKS_MAX_AGE}"
    return response


def jwks(request, tenant):
    """The public signing keys (RFC 7517), from process memory after the first request."""
    return _well_known(request, tenant, lambda: {"keys": signing.published()})


def metadata(request, tenant):
    """RFC 8414 authorization server metadata."""
    base = tokens.issuer(tenant)
    return _well_known(
        request,
        tenant,
        lambda: {
            "issuer": base,
            "token_endpoint": f"{base}/oauth/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "registration_endpoint": f"{base}/oauth/register",
            "grant_types_supported": ["client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["bearer"],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "response_types_supported": [],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": [],
        },
    )


def _caller(request, tenant, params):
    """Who introspects: the client by its credentials (Basic or body), else the bearer of an
    API key or access token. An admin key needs `keys:verify` (or full admin)."""
    scheme = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")[0]
    if scheme.lower() == "basic" or "client_secret" in params:
        key = _authenticated_client(request, tenant, params, required=True)
    else:
        # A refused credential is a 401 with the RFC's code here, as on every OAuth endpoint.
        raw = get_credential(request)
        try:
            if raw is None:
                raise Unauthorized()
            if tokens.looks_like_jwt(raw):
                key = tokens.authenticate_token(request, tenant, raw)
            else:
                key = authenticate_key(request, tenant, raw)
        except Unauthorized:
            raise invalid_client() from None
        if key.kind == keyformat.ADMIN and not scope_allows(key.scopes, "keys:verify"):
            raise Forbidden("This key lacks the 'keys:verify' scope.")
    return key, services.spend(key, client_ip(request))


@oauth_endpoint
def introspect(request, tenant):
    """RFC 7662: is this access token live, and whose is it."""
    params = read_params(request)
    key, headers = _caller(request, tenant, params)
    if not params.get("token"):
        raise invalid_request("token is required.")
    response = JsonResponse(services.introspect(tenant, params["token"], key))
    for name, value in headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


@oauth_endpoint
def revoke(request, tenant):
    """RFC 7009: 200 with an empty body, also for a token that is unknown or not the client's."""
    params = read_params(request)
    key = _authenticated_client(request, tenant, params, required=True)
    headers = services.spend(key, client_ip(request))
    if not params.get("token"):
        raise invalid_request("token is required.")
    services.revoke_token(tenant, params["token"], key)
    response = HttpResponse(status=200)
    del response["Content-Type"]
    for name, value in headers.items():
        response[name] = value
    return response


def _registration(params) -> dict:
    """The RFC 7591 metadata we accept; anything else is `invalid_client_metadata`."""

    def bad(description):
        return OAuthError("invalid_client_metadata", description)

    unknown = set(params) - {"client_name", "scope", "grant_types", "token_endpoint_auth_method"}
    if unknown:
        raise bad(f"Unsupported metadata: {', '.join(sorted(unknown))}.")
    name = params.get("client_name")
    if not isinstance(name, str):
        raise bad("client_name is required.")
    try:
        name = clean_name(name)
    except ValidationError as exc:
        raise bad(f"client_name: {' '.join(exc.messages)}") from None
    scope = params.get("scope") or ""
    if not isinstance(scope, str) or has_unstorable_text(scope):
        raise bad("scope must be a space-separated string of permissions.")
    permissions = list(dict.fromkeys(scope.split()))
    # Agent creation's limits (`agents.forms.permissions_field`).
    if len(permissions) > MAX_PERMISSIONS:
        raise bad(f"scope may hold at most {MAX_PERMISSIONS} permissions.")
    if not all(is_permission(p) for p in permissions):
        raise bad("Each scope must be a permission like 'read:reports' (at most 200 characters).")
    if MANAGE_SELF in permissions:
        raise bad(f"'{MANAGE_SELF}' is granted to a token only when a token request names it.")
    grant_types = params.get("grant_types") or ["client_credentials"]
    if not isinstance(grant_types, list) or not all(
        isinstance(g, str) and g in services.GRANT_TYPES for g in grant_types
    ):
        raise bad("grant_types may hold client_credentials and refresh_token.")
    method = params.get("token_endpoint_auth_method") or "client_secret_basic"
    if method not in services.AUTH_METHODS:
        raise bad("token_endpoint_auth_method: client_secret_basic or client_secret_post.")
    return {
        "client_name": name,
        "scope": permissions,
        "grant_types": grant_types,
        "auth_method": method,
    }


@tenant_view(scope="agents:write", methods=("POST",))  # CSRF stays on for a session
@idempotent
def register(request, tenant):
    """RFC 7591 dynamic client registration, for an admin key with `agents:write`."""
    try:
        data = _registration(read_body(request))
    except OAuthError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    body = services.register_client(tenant, request.actor, **data)
    return respond(request, json=body, status=201, secret=True)
