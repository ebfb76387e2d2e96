"""Key verification for resource servers (SPEC §6a): `POST /t/<tenant>/api/v1/keys/verify`.

A service that an agent calls sends the agent's key here and gets one answer: is it good,
whose is it, and may it do X. The caller needs an admin key with `keys:verify` (or full admin)
or an admin member's session. Whenever the caller is authorized the answer is 200 with a `code`:

- `NOT_FOUND`: malformed, unknown, wrong secret, or a key of another tenant (indistinguishable);
- `REVOKED`, `EXPIRED`: the key's own state;
- `DISABLED`: its agent is deactivated or past its expiry;
- `IP_NOT_ALLOWED`: `ip` was given and is outside the key's or its agent's allowlist;
- `RATE_LIMITED`: the verified key is over a per-minute limit, its own or its agent's (SPEC §6b);
- `QUOTA_EXCEEDED`: the key's or its agent's day or month quota is used up (SPEC §15);
- `INSUFFICIENT_PERMISSIONS`: `permission` was given and is outside what the key may do;
- `VALID`.

Checks run in that order. Lookup and classification are the very functions that authenticate
API requests (`access.keys.lookup_key`, `access.rules`), so a key verifies here
exactly when it would authenticate there. One SQL statement answers a verification: the
middleware fetches the caller's key and the verified one (with its agent's roles and grants)
together (`tenant_view(fetch_also=…)`, `access.keys.fetch_keys`). A verification that gets
past the IP check counts as a use of the verified key: its usage counters and its rate-limit
budget. Rejections of keys that
exist are audited as `api_key.rejected` (with `"via": "verify"`) like any other rejected use.

`permissions` lists an agent key's effective set: its agent's merged access set (roles ∪ direct ∪
unexpired grants), narrowed to the key's own `permissions` if it has any (SPEC §15); for an
admin key it lists its scopes (all admin scopes for a full-admin key), and `permission` is checked
against them with the admin-API rule that `x:write` implies `x:read`. It is empty for keys that
are not found, revoked, expired or disabled.
"""

import ipaddress

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.urls import path

from access import events, ratelimit
from access.decorators import tenant_view
from access.keys import KeyRow, fetch_with_access, lookup_key
from access.rules import (
    PERMISSION_MAX_LENGTH,
    PERMISSION_RE,
    key_allows,
    permissions_of,
    refusal,
)
from apikeys.models import ApiKey
from portal import metrics
from portal.errors import ApiError
from portal.respond import respond
from portal.serializers import ts, uid
from portal.validation import ApiForm, JsonTyped, StrField, validate

CODES = {
    "wrong_tenant": "NOT_FOUND",
    "revoked": "REVOKED",
    "expired": "EXPIRED",
    "agent_inactive": "DISABLED",
    "agent_expired": "DISABLED",
    "ip_not_allowed": "IP_NOT_ALLOWED",
}
REFUSALS = {"rate_limited": "RATE_LIMITED", "quota_exceeded": "QUOTA_EXCEEDED"}


class KeyStringField(JsonTyped, forms.CharField):
    """The presented key, taken verbatim: any string is a question, answered NOT_FOUND if bad."""

    def __init__(self):
        super().__init__(required=True, strip=False, max_length=1000)


def validate_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValidationError("Must be an IPv4 or IPv6 address.") from None


class VerifyForm(ApiForm):
    key = KeyStringField()
    permission = StrField(
        max_length=PERMISSION_MAX_LENGTH,
        validators=[RegexValidator(PERMISSION_RE, "Must look like 'action:resource'.")],
    )
    ip = StrField(max_length=64, validators=[validate_ip])

    def clean_ip(self):
        value = self.cleaned_data.get("ip")
        return validate_ip(value) if value else None


def parse_body(request) -> dict:
    """The body, through the one validator (`portal.validation`). Kept on the request, so the
    decorator can read the key to prefetch it before the view parses it again."""
    if not hasattr(request, "verify_body"):
        request.verify_body = validate(VerifyForm, request)[0]
    return request.verify_body


def key_to_prefetch(request) -> tuple[str, str | None] | None:
    """The key in a well-formed body, fetched with the caller's own key (`tenant_view`), and the
    address its use is verified from (counted in the same round trip to Redis)."""
    try:
        body = parse_body(request)
    except ApiError:
        return None  # answered by the view once the caller is authenticated
    return body["key"], body["ip"]


def _answer(code: str, key: KeyRow | None = None, permissions=()) -> dict:
    agent = key.agent if key is not None else None
    return {
        "valid": code == "VALID",
        "code": code,
        "keyId": uid(key.pk) if key is not None else None,
        "agentId": uid(agent.pk) if agent is not None else None,
        "agent": ({"id": str(agent.pk), "name": agent.name, "type": agent.type} if agent else None),
        "permissions": sorted(set(permissions)),
        "deprecated": key is not None and key.status == ApiKey.Status.DEPRECATED,
        "expiresAt": ts(key.expires_at) if key is not None else None,
        "meta": merged_meta(key),
    }


def merged_meta(key: KeyRow | None) -> dict:
    """The key's `meta` over its agent's (SPEC §15): the key's value wins a shared name."""
    if key is None:
        return {}
    return {**((key.agent.meta if key.agent else None) or {}), **(key.meta or {})}


def verify(request, tenant, raw: str, *, permission: str | None = None, ip: str | None = None):
    """Classify the key `raw` for `tenant`; returns the SPEC §6a answer as a dict.

    Writes nothing on the request path except through the usage buffer (counts, lastUsedAt)
    and the rate-limit counter, and an audit event for the first rejection of an existing key.
    """
    _, key = lookup_key(raw, getattr(request, "keys_fetched", None) or fetch_with_access(raw))
    if key is None:
        return _answer("NOT_FOUND")
    reason = refusal(key, tenant.slug, ip)
    if reason:
        events.reject(key, reason, request=request, via="verify", **({"ip": ip} if ip else {}))
        if reason == "wrong_tenant":
            return _answer("NOT_FOUND")
        live = reason == "ip_not_allowed"
        return _answer(CODES[reason], key, permissions_of(key) if live else ())

    refused = ratelimit.admit(key, request=request).refusal
    if refused:
        # Like a 429 on the API itself: it spends neither budget, and is not a use.
        return _answer(REFUSALS[refused], key, permissions_of(key))
    events.record_use(key, ip, request=request)
    permissions = permissions_of(key)
    if permission is not None and not key_allows(key, permissions, permission):
        return _answer("INSUFFICIENT_PERMISSIONS", key, permissions)
    return _answer("VALID", key, permissions)


@tenant_view(scope="keys:verify", methods=("POST",), fetch_also=key_to_prefetch)
def verify_key(request, tenant):
    """POST /keys/verify {key, permission?, ip?} → 200 {valid, code, keyId, agent, ...}."""
    data = parse_body(request)
    answer = verify(
        request, tenant, data["key"], permission=data["permission"] or None, ip=data["ip"]
    )
    metrics.VERIFICATIONS.labels(answer["code"]).inc()
    return respond(request, json=answer)


api_patterns = [path("keys/verify", verify_key, name="keys-verify")]
