"""Who is calling: client IP, credentials, and API key authentication.

`authenticate_key` is the hot path: one indexed query by public id (joined to the key's tenant
and agent) plus one HMAC. A malformed key costs no query at all.
"""

import ipaddress
import logging
from dataclasses import dataclass, field
from functools import cache, lru_cache, partial
from typing import NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query import get_related_populators
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from apikeys import keyformat
from apikeys.models import ApiKey
from portal.errors import BadRequest, Forbidden, Unauthorized

log = logging.getLogger("tessera.auth")


@dataclass
class Actor:
    """Who did it, as recorded on objects (`createdBy`) and audit events."""

    type: str  # "user" | "api_key" | "agent"
    id: str
    name: str
    ip: str | None = None
    user_agent: str = ""
    user: object = None
    membership: object = None
    key: ApiKey | None = None
    agent: object = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_user(cls, user, request=None, membership=None):
        return cls(
            "user", str(user.pk), user.email, *_origin(request), user=user, membership=membership
        )

    @classmethod
    def for_key(cls, key: ApiKey, request=None):
        if key.agent_id:
            agent = key.agent
            return cls("agent", str(agent.pk), agent.name, *_origin(request), key=key, agent=agent)
        return cls("api_key", str(key.pk), key.name, *_origin(request), key=key)

    @classmethod
    def system(cls, name: str):
        """Command-line actions (manage.py): attributed to the operator's shell."""
        return cls("user", "", name)

    @property
    def scopes(self) -> list[str] | None:
        """The admin scopes limiting this actor, or None when it is not limited by scopes."""
        if self.key is not None and self.key.kind == ApiKey.Kind.ADMIN and self.key.scopes:
            return list(self.key.scopes)
        return None

    def as_ref(self) -> dict:
        return {"type": self.type, "id": self.id, "name": self.name}


def _origin(request):
    if request is None:
        return None, ""
    return client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:500]


@cache
def _trusted_networks():
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in settings.TRUSTED_PROXIES)


@lru_cache(maxsize=4096)
def _parse_ip(value: str):
    # Pure function of the string, and the same few addresses recur: parse each once.
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the first untrusted hop of X-Forwarded-For when the peer is a trusted proxy.

    X-Forwarded-For is read right to left and only while each hop is itself a trusted proxy,
    so a client cannot spoof its address by sending the header itself.
    """
    cached = getattr(request, "_tessera_client_ip", False)
    if cached is not False:
        return cached
    peer = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    result = peer
    trusted = _trusted_networks()
    if peer is not None and trusted and any(peer in net for net in trusted):
        hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            ip = _parse_ip(hop)
            if ip is None:
                break
            result = ip
            if not any(ip in net for net in trusted):
                break
    value = str(result) if result is not None else None
    request._tessera_client_ip = value
    return value


def ip_allowed(ip: str | None, allowed: list[str] | None) -> bool:
    """An empty or null allowlist means no restriction. IPv4-mapped IPv6 matches its IPv4 CIDR."""
    if not allowed:
        return True
    addr = _parse_ip(ip or "")
    if addr is None:
        return False
    for entry in allowed:
        net = _parse_network(entry)
        if net is not None and addr.version == net.version and addr in net:
            return True
    return False


@lru_cache(maxsize=4096)
def _parse_network(entry: str):
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def get_credential(request) -> str | None:
    """The API key sent in `Authorization: Bearer|ApiKey` or `X-API-Key`, or None.

    Two different credentials in one request are a 400. A key in the query string is refused.
    """
    found = []
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() not in ("bearer", "apikey") or not token.strip():
            log.info("refused an Authorization header without a key on %s", request.path)
            raise Unauthorized(
                "Use 'Authorization: Bearer <key>' or 'Authorization: ApiKey <key>'."
            )
        found.append(token.strip())
    x_api_key = request.META.get("HTTP_X_API_KEY", "")
    if x_api_key:
        found.append(x_api_key.strip())
    # Most requests have no query string: don't build a QueryDict just to find nothing in it.
    query_lists = request.GET.lists() if request.META.get("QUERY_STRING") else ()
    for values in query_lists:
        if any(keyformat.looks_like_key(v) for v in values[1]) or keyformat.looks_like_key(
            values[0]
        ):
            log.warning("refused an API key sent in the query string of %s", request.path)
            raise Unauthorized(
                "API keys are never accepted in the URL query string; send them in a header."
            )
    if len(set(found)) > 1:
        log.info("refused a request with two different API keys on %s", request.path)
        raise BadRequest("Send one credential: the request carries two different API keys.")
    return found[0] if found else None


def lookup_key(raw, fetch=None) -> tuple[keyformat.ParsedKey | None, ApiKey | None]:
    """Find the key that `raw` is, in any tenant: `(parsed, key)`.

    Contract: a malformed `raw` returns `(None, None)` without a query; otherwise exactly one
    indexed SELECT (key + tenant + agent) and one constant-time HMAC comparison. An unknown
    public id, a kind that does not match the prefix, or a wrong secret return `(parsed, None)`:
    the caller cannot tell them apart, and neither can the client. `fetch(public_id)` may
    replace `fetch_key` with a lookup that brings more along in the same query.
    """
    parsed = keyformat.parse(raw)
    if parsed is None:
        return None, None
    key = (fetch or fetch_key)(parsed.public_id)
    if (
        key is None
        or key.kind != parsed.kind
        or not keyformat.matches(parsed.full, key.pepper_id, key.digest)
    ):
        return parsed, None
    return parsed, key


class CompiledQuery:
    """A queryset that Django's own compiler compiles once per database connection.

    Building and compiling a queryset is most of what the ORM spends on a small indexed query,
    and the key lookup runs on every API request. `fetch(*values)` only executes the compiled
    SQL with new parameter values and builds the model instances exactly as `ModelIterable`
    would (Django's converters, `from_db`, `select_related` populators). It caches SQL, never
    results: every call is one real query, seen by query logging and `assertNumQueries`, so a
    revoked or deleted key is refused by the very next request.

    `build(*values)` returns the queryset; `params` gives, per argument, a sample value and the
    model field it is compared with (to prepare values as the ORM would). Annotations are set on
    the objects as the ORM sets them; a queryset with other moving parts (peer tracking, known
    related objects) is run through the ORM as usual.
    """

    def __init__(self, build, *params):
        self.build = build
        self.params = params
        self.attr = f"_tessera_compiled_{id(self)}"

    def fetch(self, *values, using: str = DEFAULT_DB_ALIAS) -> list:
        connection = connections[using]
        plan = getattr(connection, self.attr, None)
        if plan is None:
            plan = self._compile(connection, using)
            setattr(connection, self.attr, plan)
        if plan is False:
            return list(self.build(*values).using(using))
        params = [None] * len(plan.order)
        for (_, model_field), value, position in zip(self.params, values, plan.order, strict=True):
            params[position] = model_field.get_db_prep_value(value, connection)
        cursor, owned = _hot_cursor(connection)
        try:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        finally:
            if owned:
                cursor.close()
        if plan.converters:
            rows = plan.compiler.apply_converters(rows, plan.converters)
        objects = []
        for row in rows:
            obj = plan.from_db(using, plan.init_list, row[plan.start : plan.end])
            for populator in plan.populators:
                populator.populate(row, obj)
            for name, position in plan.annotations:
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects

    def _compile(self, connection, using):
        queryset = self.build(*(sample for sample, _ in self.params)).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, compiled_params = compiler.as_sql()
        compiled_params = list(compiled_params)
        prepared = [f.get_db_prep_value(sample, connection) for sample, f in self.params]
        if (
            sorted(map(repr, compiled_params)) != sorted(map(repr, prepared))
            or len(set(map(repr, prepared))) != len(prepared)
            or queryset._fetch_mode.track_peers
            or queryset._known_related_objects
        ):
            return False
        order = [compiled_params.index(value) for value in prepared]
        select, klass_info = compiler.select, compiler.klass_info
        converters = compiler.get_converters([expression for expression, *_ in select])
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [expression.target.attname for expression, *_ in select[start:end]]
        fetch_mode = queryset._fetch_mode
        from_db = _instance_builder(queryset.model, init_list, fetch_mode) or partial(
            queryset.model.from_db, fetch_mode=fetch_mode
        )
        populators = get_related_populators(klass_info, select, using, fetch_mode)
        _speed_up_populators(populators, fetch_mode)
        annotations = tuple((compiler.annotation_col_map or {}).items())
        return _Plan(
            sql,
            order,
            compiler,
            converters,
            start,
            end,
            init_list,
            from_db,
            populators,
            annotations,
        )


def _instance_builder(model, field_names, fetch_mode):
    """A `from_db(db, field_names, values)` that fills the instance's `__dict__` directly, or
    None when that would not be exactly what `Model.from_db` does.

    For a row holding every concrete field, `Model.__init__` sets each attname through its
    descriptor; for plain columns and foreign key ids on a new instance that is a `__dict__`
    write. So this is used only when the model keeps Django's `__init__` and `from_db`, nobody
    listens to `pre_init`/`post_init`, no field is deferred, and every field's descriptor is
    Django's plain one. Half the cost of building the key, its tenant and its agent.
    """
    concrete = model._meta.concrete_fields
    attnames = [f.attname for f in concrete]
    plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
    if (
        model._meta.abstract
        or model._meta.proxy
        or model.__init__ is not Model.__init__
        or model.from_db.__func__ is not Model.from_db.__func__
        or pre_init.has_listeners(model)
        or post_init.has_listeners(model)
        or list(field_names) != attnames
        or any(type(model.__dict__.get(name)) not in plain for name in attnames)
    ):
        return None
    new = Model.__new__

    def build(db, _field_names, values):
        obj = new(model)
        state = ModelState()
        state.adding = False
        state.db = db
        if fetch_mode is not None:
            state.fetch_mode = fetch_mode
        data = obj.__dict__
        data["_state"] = state
        data.update(zip(attnames, values, strict=True))
        return obj

    return build


def _speed_up_populators(populators, fetch_mode) -> None:
    """Give each `select_related` populator the fast builder of its model, when it is exact."""
    for populator in populators:
        fast = _instance_builder(populator.model_cls, populator.init_list, fetch_mode)
        if fast is not None and not fetch_mode.track_peers:
            populator.from_db = fast
        _speed_up_populators(populator.related_populators, fetch_mode)


class _Plan(NamedTuple):
    sql: str
    order: list  # position of each argument among the SQL parameters
    compiler: object
    converters: dict
    start: int  # the model's columns are row[start:end]
    end: int
    init_list: list
    from_db: object
    populators: list
    annotations: tuple


def _hot_cursor(connection):
    """`(cursor, owned)`: a Django cursor wrapper (so logged and counted) for the compiled hot
    queries; the caller closes it when `owned`.

    - SQLite: Django's cursor with its `%s` → `?` rewrite remembered per query;
    - PostgreSQL (psycopg 3): a server-binding cursor whose statements are prepared on the
      server, so their planning (most of the server's time on these indexed lookups) happens
      once per connection;
    - otherwise, or with `KEY_LOOKUP_PREPARED_STATEMENTS=false` (for a transaction-pooling
      PgBouncer older than 1.21), Django's usual cursor.

    The first two are made once per database connection and reused (a connection belongs to
    one thread), so a request does not pay for setting a cursor up.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw_conn = connection.connection
    flavour = (connection.vendor, settings.KEY_LOOKUP_PREPARED_STATEMENTS, connection.timezone)
    cached = getattr(connection, "_tessera_hot_cursor", None)
    if cached is None or cached[0] is not raw_conn or cached[1] != flavour:
        with connection.wrap_database_errors:
            cached = (raw_conn, flavour, _new_hot_cursor(connection, raw_conn))
        connection._tessera_hot_cursor = cached
    if cached[2] is None:
        return connection.cursor(), True
    return connection._prepare_cursor(cached[2]), False


def _new_hot_cursor(connection, raw):
    if connection.vendor == "sqlite":
        return raw.cursor(factory=_memo_qmark_cursor_class())
    if connection.vendor != "postgresql" or not settings.KEY_LOOKUP_PREPARED_STATEMENTS:
        return None
    from django.db.backends.postgresql import base as pg

    if not pg.is_psycopg3:
        return None
    if raw.prepare_threshold is None:
        # Django leaves psycopg's automatic preparing off. Its client-side binding cursors
        # never prepare anyway; a threshold no query reaches keeps it off for any other
        # server-binding cursor, and `_PreparingCursor` asks for preparing explicitly.
        raw.prepare_threshold = 2**31
    cursor = _preparing_cursor_class(pg.ServerBindingCursor)(raw)
    tzloader = raw.adapters.get_loader(pg.TIMESTAMPTZ_OID, pg.Format.TEXT)
    if connection.timezone != tzloader.timezone:  # as Django's create_cursor() does
        pg.register_tzloader(connection.timezone, cursor)
    return cursor


@cache
def _memo_qmark_cursor_class():
    """Django's SQLite cursor, remembering its `%s` → `?` rewrite of the (few, fixed) compiled
    hot queries instead of running the regular expression on every execution."""
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper

    converted: dict[str, str] = {}

    class _MemoQmarkCursor(SQLiteCursorWrapper):
        def convert_query(self, query, *, param_names=None):
            if param_names is not None:
                return super().convert_query(query, param_names=param_names)
            try:
                return converted[query]
            except KeyError:
                result = converted[query] = super().convert_query(query)
                return result

    return _MemoQmarkCursor


@cache
def _preparing_cursor_class(base):
    class _PreparingCursor(base):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, **{**kwargs, "prepare": True})

    return _PreparingCursor


_KEY_LOOKUP = CompiledQuery(
    lambda public_id: (
        ApiKey.objects.select_related("tenant", "agent").filter(public_id=public_id).order_by()[:1]
    ),
    ("placeholder-public-id", ApiKey._meta.get_field("public_id")),
)


def fetch_key(public_id: str, using: str = DEFAULT_DB_ALIAS) -> ApiKey | None:
    """`ApiKey.objects.select_related("tenant", "agent").filter(public_id=…).first()`: one
    query, compiled once per connection (see `CompiledQuery`)."""
    found = _KEY_LOOKUP.fetch(public_id, using=using)
    return found[0] if found else None


def key_problem(key: ApiKey, tenant_slug: str, now=None) -> str | None:
    """Why an authentic key may not be used in tenant `tenant_slug` now, or None if it may.

    One of `wrong_tenant`, `revoked`, `expired`, `agent_inactive`, `agent_expired`. Read from the
    row just fetched, never from a cache, so revocation and deactivation take effect at once.
    """
    now = now or timezone.now()
    if key.tenant.slug != tenant_slug:
        return "wrong_tenant"
    if key.status == ApiKey.Status.REVOKED:
        return "revoked"
    if key.is_expired(now):
        return "expired"
    if key.agent_id and not key.agent.is_active:
        return "agent_inactive"
    if key.agent_id and key.agent.is_expired(now):
        return "agent_expired"
    return None


def ip_permitted(key: ApiKey, ip: str | None) -> bool:
    """Is `ip` inside both the key's and its agent's allowlists (empty = no restriction)?"""
    return ip_allowed(ip, key.allowed_ips) and (
        not key.agent_id or ip_allowed(ip, key.agent.allowed_ips)
    )


def authenticate_key(request, tenant_slug: str, raw: str) -> ApiKey:
    """Return the live key for `raw` in tenant `tenant_slug`, or raise Unauthorized/Forbidden.

    Contract: a malformed key is rejected without a query; otherwise exactly one indexed SELECT
    (key + tenant + agent) and one HMAC. Rejections of keys that exist are audited in the key's
    own tenant; unknown and malformed keys go to the log with the prefix only.
    """
    parsed, key = lookup_key(raw)
    if parsed is None:
        log.info("rejected a malformed API key on %s", request.path)
        raise Unauthorized()
    if key is None:
        log.info("rejected unknown API key %s on %s", parsed.prefix, request.path)
        raise Unauthorized()
    reason = key_problem(key, tenant_slug)
    if reason:
        reject(request, key, reason)
        raise Unauthorized()
    if not ip_permitted(key, client_ip(request)):
        reject(request, key, "ip_not_allowed")
        raise Forbidden("Requests from this IP address are not allowed for this key.")
    return key


def reject(request, key: ApiKey, reason: str, **extra) -> None:
    """Record `api_key.rejected` in the key's own tenant (never the secret).

    Repeats of one key and reason within a minute are summed into one event
    (`apikeys.usage.record_rejection`), so a flood of a revoked key writes no row per request.
    """
    from apikeys import usage

    log.info("rejected API key %s: %s", key.prefix, reason)
    usage.record_rejection(
        key,
        Actor.for_key(key, request),
        {"reason": reason, "method": request.method, "path": request.path, **extra},
    )
