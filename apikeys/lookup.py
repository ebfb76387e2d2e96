"""The key lookup on every API request: one plain SELECT read into frozen records.

Contract: `fetch_keys(public_ids)` runs exactly one SQL statement through Django's cursor (so it
is logged and counted) and returns `{public_id: KeyRow}` for the ids that exist, with the key's
tenant (a `Tenant` built by the documented `Model.from_db`) and agent. `with_access=True` also
aggregates the agent's role permissions and grants in the same statement (SQLite's
`json_group_array`, PostgreSQL's `json_agg`); expired grants are left to the reader. Nothing is
cached: each call reads the rows as they are now, so a revoke holds from the very next request.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apikeys.keyformat import TYPE_PREFIXES
from tenants.models import Tenant

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
    meta: dict | None = None

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
    tenant: Tenant
    agent: AgentRow | None
    access: tuple | None = None  # with_access: (role permission lists, [permission, expiry])
    meta: dict | None = None

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
    return {row[1]: _key_row(row) for row in rows}


def _key_row(row) -> KeyRow:
    v = [x if x is None or f is None else f(x) for f, x in zip(CONVERTERS, row, strict=False)]
    tenant = Tenant.from_db(DEFAULT_DB_ALIAS, ["id", "slug", "name", "created_at"], v[12:16])
    agent = AgentRow(*v[16:24], meta=v[25]) if v[16] is not None else None
    access = (v[26] or [], [(p, _aware(at)) for p, at in v[27] or []]) if len(v) > 26 else None
    return KeyRow(*v[:12], tenant, agent, access, meta=v[24])


def _uuid(value):  # SQLite stores a UUID as 32 hex digits; psycopg returns a UUID
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
 t.id:uuid t.slug t.name t.created_at:time
 a.id:uuid a.name a.type a.is_active:bool a.expires_at:time a.allowed_ips:json
 a.rate_limit_per_minute a.permissions:json
 k.meta:json a.meta:json""".split()
CONVERT = {"uuid": _uuid, "json": _json, "time": _aware, "bool": bool, "": None}
SELECTED = ", ".join(column.partition(":")[0] for column in COLUMNS)
CONVERTERS = [CONVERT[column.partition(":")[2]] for column in COLUMNS] + [_json, _json]
