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
  and only when it still holds counts every planned rate-limit hit (INCR of the current bucket,
  GET of the ten before it, the refused request taken back), and hands the uses of the admitted
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
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

log = logging.getLogger("tessera.auth")

EPOCH = "tessera:epoch:{}"
ANY_EPOCH = "*"  # a trip that counts whatever the epoch (its rows were just read)

# KEYS: the epoch, then SPAN bucket names per hit (oldest first).
# ARGV: expected epoch, SPAN, ttl, hit count, then per hit: limit, gate, counts hash, count
# field, last hash, last field, last value ('' for no usage).
SCRIPT = """
local epoch = redis.call('GET', KEYS[1]) or '0'
if ARGV[1] ~= '*' and ARGV[1] ~= epoch then
    return {epoch}
end
local span, ttl, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {epoch}
local a, k = 4, 1
for h = 1, n do
    local limit, gate = tonumber(ARGV[a + 1]), ARGV[a + 2]
    local current = KEYS[k + span]
    local hits = redis.call('INCR', current)
    if hits == 1 then
        redis.call('EXPIRE', current, ttl)
    end
    local used, oldest = hits, span
    for j = 1, span - 1 do
        local v = tonumber(redis.call('GET', KEYS[k + j]) or '0')
        if v > 0 and oldest == span then
            oldest = j
        end
        used = used + v
    end
    if used > limit then
        redis.call('DECR', current)
    elseif ARGV[a + 3] ~= '' then
        redis.call('HINCRBY', ARGV[a + 3], ARGV[a + 4], 1)
        redis.call('HSET', ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
    end
    out[#out + 1] = used
    out[#out + 1] = oldest
    a, k = a + 7, k + span
    if used > limit and gate == '1' then
        break
    end
end
return out
"""


@dataclass
class Hit:
    """One rate-limit count (`names`: the window's buckets, oldest first) and, when admitted, one
    use handed to the usage buffer (`use`: counts hash, field, last hash, field, value)."""

    public_id: str
    names: list
    limit: int
    ttl: int
    gate: bool = False  # refused: count nothing after it (the view will not run)
    use: tuple | None = None


@dataclass
class Trip:
    epoch: str
    stale: bool
    # public_id -> [(used, oldest bucket 1-based), …], one per hit in order
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
    argv = [expected if expected is not None else "", 0, 0, len(hits)]
    for hit in hits:
        keys += hit.names
        argv[1], argv[2] = len(hit.names), hit.ttl
        argv += [hit.limit, "1" if hit.gate else "0", *(hit.use or ("", "", "", "", ""))]
    reply = script(keys=keys, args=argv)
    epoch = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    counted = {}
    for i, hit in enumerate(hits):
        pair = reply[1 + 2 * i : 3 + 2 * i]
        if len(pair) == 2:
            counted.setdefault(hit.public_id, []).append((int(pair[0]), int(pair[1])))
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
    return (rows, epochs.pop()) if len(epochs) == 1 else None


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
