"""The key lookup on every API request: one plain SELECT read into frozen records, and the
key door (`authenticate_key`).

Contract: `fetch_keys(public_ids)` runs exactly one SQL statement through Django's cursor (so it
is logged and counted) and returns `{public_id: KeyRow}` for the ids that exist, with the key's
tenant (a `Tenant` built by the documented `Model.from_db`) and agent. `with_access=True` also
aggregates the agent's role permissions and grants in the same statement (SQLite's
`json_group_array`, PostgreSQL's `json_agg`); expired grants are left to the reader. Nothing is
cached: each call reads the rows as they are now, so a revoke holds from the very next request.
"""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cache

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from access import events, keyformat
from access.credentials import client_ip
from access.keyformat import TYPE_PREFIXES
from access.rules import ip_permitted, key_problem
from portal import metrics
from portal.errors import Forbidden, Unauthorized

log = logging.getLogger("tessera.auth")

SQL = """SELECT {columns}{access} FROM apikeys_apikey k JOIN tenants_tenant t ON t.id = k.tenant_id
LEFT JOIN agents_agent a ON a.id = k.agent_id WHERE k.public_id IN ({ids})"""
ACCESS = {  # the agent's roles' permission lists, and its grants as [permission, expiry]
    "sqlite": ("json_group_array(json(r.permissions))", "json_group_array(json_array({}))"),
    "postgresql": ("json_agg(r.permissions)", "json_agg(json_build_array({}))"),
}
ACCESS_SQL = """, (SELECT {} FROM agents_agent_roles ar JOIN agents_role r ON r.id = ar.role_id
 WHERE ar.agent_id = a.id), (SELECT {} FROM agents_grant g WHERE g.agent_id = a.id)"""


@dataclass(frozen=True, slots=True)
class AgentRow:
    pk: uuid.UUID
    name: str
    type: str
    is_active: bool
    expires_at: datetime | None
    allowed_ips: list | None
    rate_limit_per_minute: int | None
    permissions: list
    quota_limit: int | None
    quota_period: str
    meta: dict | None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


@dataclass(frozen=True, slots=True)
class KeyRow:
    pk: uuid.UUID
    public_id: str
    kind: str
    name: str
    digest: str
    pepper_id: str
    scopes: list
    status: str
    expires_at: datetime | None
    deprecated_at: datetime | None
    rate_limit_per_minute: int | None
    allowed_ips: list | None
    permissions: list | None  # the key's own list (null: all of its agent's access set)
    quota_limit: int | None
    quota_period: str
    meta: dict | None
    tenant: object  # a tenants.models.Tenant
    agent: AgentRow | None
    access: tuple | None = None  # with_access: (role permission lists, [permission, expiry])

    tenant_id = property(lambda self: self.tenant.pk)
    agent_id = property(lambda self: self.agent.pk if self.agent else None)
    prefix = property(lambda self: TYPE_PREFIXES[self.kind] + self.public_id)

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


def fetch_keys(public_ids: list[str], *, with_access: bool = False) -> dict[str, KeyRow]:
    roles, grants = ACCESS[connection.vendor]
    access = ACCESS_SQL.format(roles, grants.format("g.permission, g.expires_at"))
    marks = ", ".join(["%s"] * len(public_ids))
    sql = SQL.format(columns=SELECTED, access=access if with_access else "", ids=marks)
    with connection.cursor() as cursor:
        cursor.execute(sql, list(public_ids))
        rows = cursor.fetchall()
    return {row[1]: key_row(row) for row in rows}


@cache
def _tenant_model():
    # By name: `access` sits below the feature apps and imports none of them.
    return apps.get_model("tenants", "Tenant")


def key_row(row) -> KeyRow:
    """A `KeyRow` from the first `len(COLUMNS)` (+2 with access) values of a row selecting
    `SELECTED` (the token check reads a key in its own statement this way)."""
    v = [x if x is None or f is None else f(x) for f, x in zip(CONVERTERS, row, strict=False)]
    t, a, end = KEY_FIELDS, KEY_FIELDS + 4, len(COLUMNS)
    tenant = _tenant_model().from_db(DEFAULT_DB_ALIAS, ["id", "slug", "name", "created_at"], v[t:a])
    agent = AgentRow(*v[a:end]) if v[a] is not None else None
    access = (
        (v[end] or [], [(p, _aware(at)) for p, at in v[end + 1] or []]) if len(v) > end else None
    )
    return KeyRow(*v[:t], tenant, agent, access)


def as_uuid(value):  # SQLite stores a UUID as 32 hex digits; psycopg returns a UUID
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _json(value):  # JSON columns arrive as text (Django's jsonb loader), json_agg parsed
    return json.loads(value) if isinstance(value, str) else value


def _aware(value):  # SQLite gives naive UTC datetimes (or text inside JSON); psycopg aware ones
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


# Read in this order into KeyRow, the tenant, then AgentRow; `:type` converts a non-null value.
COLUMNS = """k.id:uuid k.public_id k.kind k.name k.digest k.pepper_id k.scopes:json k.status
 k.expires_at:time k.deprecated_at:time k.rate_limit_per_minute k.allowed_ips:json
 k.permissions:json k.quota_limit k.quota_period k.meta:json
 t.id:uuid t.slug t.name t.created_at:time
 a.id:uuid a.name a.type a.is_active:bool a.expires_at:time a.allowed_ips:json
 a.rate_limit_per_minute a.permissions:json a.quota_limit a.quota_period a.meta:json""".split()
KEY_FIELDS = COLUMNS.index("t.id:uuid")
CONVERT = {"uuid": as_uuid, "json": _json, "time": _aware, "bool": bool, "": None}
SELECTED = ", ".join(column.partition(":")[0] for column in COLUMNS)
CONVERTERS = [CONVERT[column.partition(":")[2]] for column in COLUMNS] + [_json, _json]


def lookup_key(raw, known=None) -> tuple[keyformat.ParsedKey | None, KeyRow | None]:
    """Find the key that `raw` is, in any tenant: `(parsed, key)`.

    Contract: a malformed `raw` returns `(None, None)` without a query; otherwise one SELECT
    (`fetch_keys`) and one constant-time HMAC comparison. An unknown public id, a kind that does
    not match the prefix, or a wrong secret return `(parsed, None)`: the caller cannot tell them
    apart, and neither can the client. `known` maps public ids already looked up in this request
    (to their row, or None) and saves the query.
    """
    parsed = keyformat.parse(raw)
    if parsed is None:
        return None, None
    if known is not None and parsed.public_id in known:
        key = known[parsed.public_id]
    else:
        key = fetch_keys([parsed.public_id]).get(parsed.public_id)
    if (
        key is None
        or key.kind != parsed.kind
        or not keyformat.matches(parsed.full, key.pepper_id, key.digest)
    ):
        return parsed, None
    return parsed, key


def fetch_with_access(raw: str) -> dict:
    """`{public_id: row or None}` for the key `raw`, with its agent's access set."""
    parsed = keyformat.parse(raw)
    if parsed is None:
        return {}
    return {
        parsed.public_id: fetch_keys([parsed.public_id], with_access=True).get(parsed.public_id)
    }


@metrics.counts_authentication("api_key")
def authenticate_key(request, tenant_slug: str, raw: str, also: str | None = None) -> KeyRow:
    """Return the live key for `raw` in tenant `tenant_slug`, or raise Unauthorized/Forbidden.

    Contract: a malformed key is rejected without a query; otherwise exactly one indexed SELECT
    (key + tenant + agent) and one HMAC. Rejections of keys that exist are audited in the key's
    own tenant; unknown and malformed keys go to the log with the prefix only.

    `also`, another key string the view will look at (the key that `/keys/verify` verifies), is
    fetched in the same SELECT with its agent's access set; `request.keys_fetched` then maps
    both public ids to their rows (or None), for `lookup_key(…, known=…)`.
    """
    mine, other = (keyformat.parse(raw), keyformat.parse(also)) if also else (None, None)
    if mine is not None and other is not None and not hasattr(request, "keys_fetched"):
        ids = list(dict.fromkeys([mine.public_id, other.public_id]))
        found = fetch_keys(ids, with_access=True)
        request.keys_fetched = {public_id: found.get(public_id) for public_id in ids}
    parsed, key = lookup_key(raw, getattr(request, "keys_fetched", None))
    if parsed is None:
        log.info("rejected a malformed API key on %s", request.path)
        raise Unauthorized()
    if key is None:
        log.info("rejected unknown API key %s on %s", parsed.prefix, request.path)
        raise Unauthorized()
    reason = key_problem(key, tenant_slug)
    if reason:
        events.reject(key, reason, request=request)
        raise Unauthorized()
    if not ip_permitted(key, client_ip(request)):
        events.reject(key, "ip_not_allowed", request=request)
        raise Forbidden("Requests from this IP address are not allowed for this key.")
    return key


def deprecation_headers(key) -> dict:
    """`Deprecation` (and `Sunset` when it expires) for a deprecated key, on every answer to a
    request that presents it (SPEC §3)."""
    if key.status != keyformat.DEPRECATED:
        return {}
    headers = {"Deprecation": f"@{int(key.deprecated_at.timestamp())}"}
    if key.expires_at:
        headers["Sunset"] = format_datetime(key.expires_at, usegmt=True)
    return headers
