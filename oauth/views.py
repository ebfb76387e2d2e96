"""OAuth 2.0 endpoints (SPEC §10), open to anyone: they authenticate the client themselves.

Bodies are form-encoded (RFC 6749) or JSON (seed 003). Errors are RFC codes in Tessera's shape
(`oauth.errors`); a 403, 413, 415 or 429 uses SPEC §4's codes.
"""

import base64
import binascii
import re
from functools import wraps
from urllib.parse import unquote_plus

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from agents.models import PERMISSION_RE
from agents.views import pages as agent_pages
from apikeys.forms import EmptyForm
from apikeys.models import ApiKey
from idempotency.decorators import idempotent
from oauth import services, signing, tokens
from oauth.errors import OAuthError, invalid_client, invalid_request
from portal.auth import authenticate_key, client_ip, get_credential
from portal.errors import Forbidden, MethodNotAllowed, NotFound, Unauthorized
from portal.respond import notify, respond
from portal.tenancy import scope_allows, tenant_view
from portal.validation import clean_name, has_unstorable_text, read_body, validate

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
PERMISSION_PATTERN = re.compile(PERMISSION_RE)


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
    return services.authenticate_client(tenant, creds[0], creds[1], client_ip(request))


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
        raw = get_credential(request)
        if raw is None:
            raise Unauthorized()
        if tokens.looks_like_jwt(raw):
            key = tokens.authenticate_token(request, tenant, raw)
        else:
            key = authenticate_key(request, tenant, raw)
        if key.kind == ApiKey.Kind.ADMIN and not scope_allows(key.scopes, "keys:verify"):
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


@tenant_view(scope="agents:write", methods=("POST",), page=agent_pages.detail_page)
def revoke_agent_tokens(request, tenant, agent_id):
    """Every access and refresh token of the agent stops working now (API, and the portal's
    "Revoke all tokens" on the agent page)."""
    agent = agent_pages.get_agent(tenant, agent_id)
    validate(EmptyForm, request)
    count = services.revoke_agent_tokens(tenant, request.actor, agent)
    notify(request, f"Every token of “{agent.name}” revoked ({count} grant{pluralize(count)}).")
    return respond(
        request,
        f"{agent_pages.DETAIL}#agent-oauth",
        lambda: agent_pages.detail_context(request, tenant, agent.pk),
        json={"agentId": str(agent.pk), "revokedGrants": count},
        redirect=reverse("portal:agent", kwargs={"tenant": tenant.slug, "agent_id": agent.pk}),
    )


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
    if any(not PERMISSION_PATTERN.match(p) for p in permissions):
        raise bad("Each scope must be a permission like 'read:reports'.")
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
