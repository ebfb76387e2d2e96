"""Key verification for resource servers (SPEC §6a): `POST /t/<tenant>/api/v1/keys/verify`.

A service that an agent calls sends the agent's key here and gets one answer: is it good,
whose is it, and may it do X. The caller needs an admin key with `keys:verify` (or full admin)
or an admin member's session. Whenever the caller is authorized the answer is 200 with a `code`:

- `NOT_FOUND`: malformed, unknown, wrong secret, or a key of another tenant (indistinguishable);
- `REVOKED`, `EXPIRED`: the key's own state;
- `DISABLED`: its agent is deactivated or past its expiry;
- `IP_NOT_ALLOWED`: `ip` was given and is outside the key's or its agent's allowlist;
- `RATE_LIMITED`: the verified key is over its own per-minute limit (SPEC §6b);
- `INSUFFICIENT_PERMISSIONS`: `permission` was given and is not in the key's access set;
- `VALID`.

Checks run in that order. Lookup and classification are the very functions that authenticate
API requests (`portal.auth.lookup_key`, `key_problem`, `ip_permitted`), so a key verifies here
exactly when it would authenticate there. A verification that gets past the IP check counts as a
use of the verified key: its usage counters and its rate-limit budget. Rejections of keys that
exist are audited as `api_key.rejected` (with `"via": "verify"`) like any other rejected use.

`permissions` lists an agent key's merged access set (roles ∪ direct ∪ unexpired grants); for an
admin key it lists its scopes (all admin scopes for a full-admin key), and `permission` is checked
against them with the admin-API rule that `x:write` implies `x:read`. It is empty for keys that
are not found, revoked, expired or disabled.
"""

import ipaddress
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import F
from django.urls import path

from agents.models import PERMISSION_RE, Agent, Grant, Role
from agents.services import access_set, permission_matches
from apikeys import usage
from apikeys.models import ApiKey
from apikeys.services import ADMIN_SCOPES
from portal import ratelimit
from portal.auth import CompiledQuery, ip_permitted, key_problem, lookup_key, reject
from portal.respond import respond
from portal.serializers import ts, uid
from portal.tenancy import scope_allows, tenant_view
from portal.validation import ApiForm, JsonTyped, StrField, validate

CODES = {
    "wrong_tenant": "NOT_FOUND",
    "revoked": "REVOKED",
    "expired": "EXPIRED",
    "agent_inactive": "DISABLED",
    "agent_expired": "DISABLED",
    "ip_not_allowed": "IP_NOT_ALLOWED",
}


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
        max_length=200,
        validators=[RegexValidator(PERMISSION_RE, "Must look like 'action:resource'.")],
    )
    ip = StrField(max_length=64, validators=[validate_ip])

    def clean_ip(self):
        value = self.cleaned_data.get("ip")
        return validate_ip(value) if value else None


def _answer(code: str, key: ApiKey | None = None, permissions=()) -> dict:
    agent = key.agent if key is not None and key.agent_id else None
    return {
        "valid": code == "VALID",
        "code": code,
        "keyId": uid(key.pk) if key is not None else None,
        "agentId": uid(agent.pk) if agent is not None else None,
        "agent": ({"id": str(agent.pk), "name": agent.name, "type": agent.type} if agent else None),
        "permissions": sorted(set(permissions)),
        "deprecated": key is not None and key.status == ApiKey.Status.DEPRECATED,
        "expiresAt": ts(key.expires_at) if key is not None else None,
    }


def verify(request, tenant, raw: str, *, permission: str | None = None, ip: str | None = None):
    """Classify the key `raw` for `tenant`; returns the SPEC §6a answer as a dict.

    Writes nothing on the request path except through the usage buffer (counts, lastUsedAt)
    and the rate-limit counter, and an audit event for the first rejection of an existing key.
    """
    _, key = lookup_key(raw, fetch=_fetch_with_access)
    if key is None:
        return _answer("NOT_FOUND")
    reason = key_problem(key, tenant.slug)
    if reason is None and ip is not None and not ip_permitted(key, ip):
        reason = "ip_not_allowed"
    if reason:
        reject(request, key, reason, via="verify", **({"ip": ip} if ip else {}))
        if reason == "wrong_tenant":
            return _answer("NOT_FOUND")
        live = reason == "ip_not_allowed"
        return _answer(CODES[reason], key, _permissions(key) if live else ())

    if ratelimit.hit(key).exceeded:
        # Like a 429 on the API itself: counted against the budget, not as a use.
        return _answer("RATE_LIMITED", key, _permissions(key))
    usage.record_use(key, ip)
    permissions = _permissions(key)
    if permission is not None and not _allows(key, permissions, permission):
        return _answer("INSUFFICIENT_PERMISSIONS", key, permissions)
    return _answer("VALID", key, permissions)


def _permissions(key: ApiKey) -> list[str]:
    if key.agent_id:
        loaded = getattr(key, "_access", None)
        return [entry["permission"] for entry in _access_set(key.agent, loaded)]
    return list(key.scopes) or list(ADMIN_SCOPES)


ROLE_FIELDS = ("id", "slug", "name", "permissions", "created_at")
GRANT_FIELDS = ("id", "permission", "expires_at", "created_at")
ROW_LIMIT = 500
_KEY_WITH_ACCESS = CompiledQuery(
    lambda public_id: (
        ApiKey.objects.select_related("tenant", "agent")
        .filter(public_id=public_id)
        .annotate(
            **{f"_role_{f}": F(f"agent__roles__{f}") for f in ROLE_FIELDS},
            **{f"_grant_{f}": F(f"agent__grants__{f}") for f in GRANT_FIELDS},
        )
        .order_by()[:ROW_LIMIT]
    ),
    ("placeholder-public-id", ApiKey._meta.get_field("public_id")),
)


def _fetch_with_access(public_id: str) -> ApiKey | None:
    """`portal.auth.fetch_key`, bringing the agent's roles and grants along in the same query
    (LEFT JOINs: one row per role and grant pair), so a verification makes one query for the
    key it verifies instead of three. An agent with more pairs than `ROW_LIMIT` has its roles
    and grants read by two more queries instead."""
    rows = _KEY_WITH_ACCESS.fetch(public_id)
    if not rows:
        return None
    key = rows[0]
    if key.agent_id and len(rows) < ROW_LIMIT:
        key._access = (
            _collect(rows, "_role_", ROLE_FIELDS, Role),
            _collect(rows, "_grant_", GRANT_FIELDS, Grant),
        )
    return key


def _collect(rows, prefix: str, fields, model) -> list:
    """The distinct related objects in the joined rows, in the model's default order
    (newest first, as `agent.roles.all()` and `agent.grants.all()` list them)."""
    found = {}
    for row in rows:
        pk = getattr(row, f"{prefix}id")
        if pk is not None and pk not in found:
            found[pk] = model(**{f: getattr(row, f"{prefix}{f}") for f in fields})
    return sorted(found.values(), key=lambda obj: (obj.created_at, obj.pk), reverse=True)


_SAMPLE_ID = uuid.UUID(int=1)
_ROLES = CompiledQuery(
    lambda agent_id: Role.objects.filter(agents=agent_id), (_SAMPLE_ID, Agent._meta.pk)
)
_GRANTS = CompiledQuery(
    lambda agent_id: Grant.objects.filter(agent=agent_id), (_SAMPLE_ID, Agent._meta.pk)
)


def _access_set(agent, loaded=None) -> list[dict]:
    """`agents.services.access_set(agent)`, with its two related lists handed over as
    `prefetch_related("roles", "grants")` would: `loaded` (roles, grants) when the key's lookup
    brought them, else read by two compiled queries (verification sits on the request path of
    every service the agent calls)."""
    if loaded is None:
        loaded = (_ROLES.fetch(agent.pk), _GRANTS.fetch(agent.pk))
    prefetched = agent.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, model, objects in zip(("roles", "grants"), (Role, Grant), loaded, strict=True):
        queryset = model.objects.all()
        queryset._result_cache = list(objects)
        queryset._prefetch_done = True
        prefetched[name] = queryset
    try:
        return access_set(agent)
    finally:
        # The cached lists answer `.all()` only; don't leave them for anything else to filter.
        prefetched.pop("roles", None)
        prefetched.pop("grants", None)


def _allows(key: ApiKey, permissions: list[str], wanted: str) -> bool:
    if key.agent_id:
        return any(permission_matches(granted, wanted) for granted in permissions)
    return scope_allows(permissions, wanted)


@tenant_view(scope="keys:verify", methods=("POST",))
def verify_key(request, tenant):
    """POST /keys/verify {key, permission?, ip?} → 200 {valid, code, keyId, agent, ...}."""
    data, _ = validate(VerifyForm, request)
    answer = verify(
        request, tenant, data["key"], permission=data["permission"] or None, ip=data["ip"]
    )
    return respond(request, json=answer)


api_patterns = [path("keys/verify", verify_key, name="keys-verify")]
