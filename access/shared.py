"""Authentication with Redis as the shared cache: key rows from process memory, validated by the
tenant's credential epoch, and one round trip to Redis per request (README, "The hot path with
Redis").

- **Credential epoch.** Each tenant has a counter in Redis (`tessera:epoch:<slug>`). Every change
  that can refuse or narrow a credential records an audit event; `bump_after_commit` (connected to
  `audit`'s `event_recorded`) increments the tenant's epoch once the transaction commits, before
  the change is answered. A failed bump is logged at ERROR; rows then live at most
  `KEY_ROW_MAX_AGE` seconds.
- **Row cache.** Each process keeps the key rows it read (`KeyRow`, with the agent's access set)
  in a bounded LRU, each tagged with the epoch read *before* the SQL read that produced it. A row
  is used only while its tenant's epoch is unchanged, so a row read before a revoke can never be
  stored under the epoch the revoke created. Expiry is still checked against the clock on every
  use (the rules read `expires_at`).
- **One round trip.** `SCRIPT` (one Lua call) checks the epoch the cached rows were read under,
  and only when it still holds counts every planned admission (`access.ratelimit.planned`: INCR
  of each window's current bucket and of each quota counter, GET of the windows' earlier
  buckets, a refused request taken back out of all of them), and hands the uses of the admitted
  keys to the usage buffer (HINCRBY/HSET). When the epoch moved it changes nothing and returns
  the new epoch: the caller reads the rows with one SQL query, then sends its hits in a second
  round trip.

Without Redis as `CACHE_URL` (the SQLite demo, locmem) `client()` is None and none of this runs:
every request reads its rows with one SQL query, as before.
"""

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction

log = logging.getLogger("tessera.auth")

EPOCH = "tessera:epoch:{}"
ANY_EPOCH = "*"  # a trip that counts whatever the epoch (its rows were just read)

# KEYS: the epoch, then per hit its counters to increment, then the ones to read.
# ARGV: the expected epoch, the number of hits, then per hit: counters incremented, counters read,
# checks, gate, the use (counts hash, field, last hash, field, value; '' for none), each
# incremented counter's ttl, then per check: limit, n, the n positions it sums (1-based).
# Returns the epoch, then per hit: refused (0/1) and the value of each of its counters.
SCRIPT = """
local epoch = redis.call('GET', KEYS[1]) or '0'
if ARGV[1] ~= '*' and ARGV[1] ~= epoch then
    return {epoch}
end
local out = {epoch}
local a, k = 2, 1
for h = 1, tonumber(ARGV[2]) do
    local nb, nh, nc, gate = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]),
        ARGV[a + 4]
    local use = a + 4
    a = a + 9
    local values = {}
    for i = 1, nb do
        local v = redis.call('INCR', KEYS[k + i])
        if v == 1 then
            redis.call('EXPIRE', KEYS[k + i], tonumber(ARGV[a + i]))
        end
        values[i] = v
    end
    a = a + nb
    for i = 1, nh do
        values[nb + i] = tonumber(redis.call('GET', KEYS[k + nb + i]) or '0')
    end
    local refused = 0
    for c = 1, nc do
        local limit, m, sum = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), 0
        for j = 1, m do
            sum = sum + values[tonumber(ARGV[a + 2 + j])]
        end
        if sum > limit then
            refused = 1
        end
        a = a + 2 + m
    end
    if refused == 1 then
        for i = 1, nb do
            redis.call('DECR', KEYS[k + i])
        end
    elseif ARGV[use + 1] ~= '' then
        redis.call('HINCRBY', ARGV[use + 1], ARGV[use + 2], 1)
        redis.call('HSET', ARGV[use + 3], ARGV[use + 4], ARGV[use + 5])
    end
    out[#out + 1] = refused
    for i = 1, nb + nh do
        out[#out + 1] = values[i]
    end
    k = k + nb + nh
    if refused == 1 and gate == '1' then
        break
    end
end
return out
"""


@dataclass
class Hit:
    """One admission of a key: its counters incremented (`bumped`, name -> ttl) and read
    (`history`), refused when any check's counters sum past its limit (`checks`: (limit,
    names)), and then taken back; when admitted, one use handed to the usage buffer (`use`:
    counts hash, field, last hash, field, value)."""

    public_id: str
    bumped: dict
    history: list
    checks: list
    gate: bool = False  # refused: count nothing after it (the view will not run)
    use: tuple | None = None

    def encode(self) -> tuple[list, list]:
        names = [*self.bumped, *self.history]
        position = {name: i + 1 for i, name in enumerate(names)}
        argv = [len(self.bumped), len(self.history), len(self.checks), "1" if self.gate else "0"]
        argv += self.use or ("", "", "", "", "")
        argv += list(self.bumped.values())
        for limit, counted in self.checks:
            argv += [limit, len(counted), *(position[n] for n in counted)]
        return names, argv


@dataclass
class Trip:
    epoch: str
    stale: bool
    # public_id -> [{counter: value}, …], one per hit in order (absent: not counted)
    counted: dict = field(default_factory=dict)


# --- the client -------------------------------------------------------------------------------

_clients: dict = {}
_lock = threading.Lock()


def redis_url() -> str | None:
    cache = settings.CACHES["default"]
    if "redis" not in cache["BACKEND"].lower():
        return None
    location = cache["LOCATION"]
    return location[0] if isinstance(location, list | tuple) else location


def client():
    """The Redis client (and its registered script) when Redis is the cache, else None."""
    url = redis_url()
    if url is None:
        return None
    pair = _clients.get(url)
    if pair is None:
        import redis

        with _lock:
            pair = _clients.get(url)
            if pair is None:
                conn = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
                pair = _clients[url] = (conn, conn.register_script(SCRIPT))
    return pair


def trip(slug: str, expected: str | None, hits: list[Hit]) -> Trip:
    """One round trip: the epoch of `slug`'s tenant, and `hits` counted when the epoch is still
    `expected` (`ANY_EPOCH`: always; None: never, just read the epoch)."""
    _, script = client()
    keys = [EPOCH.format(slug)]
    argv = [expected if expected is not None else "", len(hits)]
    encoded = [hit.encode() for hit in hits]
    for names, args in encoded:
        keys += names
        argv += args
    reply = script(keys=keys, args=argv)
    epoch = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    counted = {}
    at = 1
    for hit, (names, _) in zip(hits, encoded, strict=True):
        if at >= len(reply):
            break
        values = reply[at + 1 : at + 1 + len(names)]
        counted.setdefault(hit.public_id, []).append(
            dict(zip(names, map(int, values), strict=True))
        )
        at += 1 + len(names)
    return Trip(epoch, stale=expected not in (epoch, ANY_EPOCH), counted=counted)


# --- the row cache ----------------------------------------------------------------------------

_rows: OrderedDict = OrderedDict()  # (slug, public_id) -> (row, epoch, monotonic time read)
_rows_lock = threading.Lock()
_before_fill = None  # tests: runs between the epoch read and the SQL read


def cached(slug: str, public_ids: list[str]) -> tuple[dict, str] | None:
    """The rows of every id in `public_ids`, all read under one epoch and younger than
    `KEY_ROW_MAX_AGE`, and that epoch; else None (one SQL query will read them)."""
    now = time.monotonic()
    rows, epochs = {}, set()
    with _rows_lock:
        for public_id in public_ids:
            entry = _rows.get((slug, public_id))
            if entry is None or now - entry[2] > settings.KEY_ROW_MAX_AGE:
                return None
            _rows.move_to_end((slug, public_id))
            rows[public_id] = entry[0]
            epochs.add(entry[1])
    if len(epochs) != 1:
        return None
    # Each request gets its own Tenant: Django caches related objects on an instance (a tenant's
    # policy, say), which must not outlive the request that read them.
    return {pid: replace(row, tenant=_fresh(row.tenant)) for pid, row in rows.items()}, epochs.pop()


def _fresh(tenant):
    fields = ["id", "slug", "name", "created_at"]
    return type(tenant).from_db(DEFAULT_DB_ALIAS, fields, [getattr(tenant, f) for f in fields])


def store(slug: str, rows: dict, epoch: str) -> None:
    now = time.monotonic()
    with _rows_lock:
        for public_id, row in rows.items():
            if row is None:
                continue  # a key minted later must be found: unknown ids are never cached
            _rows[(slug, public_id)] = (row, epoch, now)
            _rows.move_to_end((slug, public_id))
        while len(_rows) > settings.KEY_ROW_CACHE_SIZE:
            _rows.popitem(last=False)


def clear() -> None:
    with _rows_lock:
        _rows.clear()


def resolve(slug: str, public_ids: list[str], fetch, plan) -> tuple[dict, dict]:
    """The rows of `public_ids` (`fetch(ids)` reads them with one SQL query when the cache
    cannot answer) and the counts of the hits `plan(rows)` asks for: `(rows, counted)`.

    One round trip when the cached rows are still valid; otherwise the epoch is read first,
    then the rows, then the hits are counted (two round trips and one query)."""
    hit_cache = cached(slug, public_ids)
    if hit_cache is not None:
        rows, epoch = hit_cache
        result = trip(slug, epoch, plan(rows))
        if not result.stale:
            return rows, result.counted
        epoch = result.epoch
    else:
        epoch = trip(slug, None, []).epoch
    if _before_fill is not None:
        _before_fill()
    found = fetch(public_ids)
    rows = {public_id: found.get(public_id) for public_id in public_ids}
    store(slug, rows, epoch)
    hits = plan(rows)
    return rows, (trip(slug, ANY_EPOCH, hits).counted if hits else {})


# --- epochs -----------------------------------------------------------------------------------


def bump(slug: str) -> None:
    """Move `slug`'s credential epoch now: every process's cached rows of that tenant are read
    again. A failure is logged at ERROR: rows then stay valid up to KEY_ROW_MAX_AGE."""
    pair = client()
    if pair is None:
        return
    try:
        pair[0].incr(EPOCH.format(slug))
    except Exception:
        log.error(
            "could not bump the credential epoch of tenant %s: cached key rows may be served "
            "for up to %s s after this change",
            slug,
            settings.KEY_ROW_MAX_AGE,
            exc_info=True,
        )


def bump_after_commit(slug: str) -> None:
    """Bump once the current transaction commits (at once outside one): before the change it
    records is answered, after it is visible to the SQL read that refills the cache."""
    if redis_url() is None:
        return
    transaction.on_commit(lambda: bump(slug))


def on_event_recorded(sender, tenant, event, **kwargs) -> None:
    """Every change to credentials records an audit event: each one moves the tenant's epoch.
    A rejected use records one too but changes nothing, so it leaves the cache alone."""
    if event.action != "api_key.rejected":
        bump_after_commit(tenant.slug)
