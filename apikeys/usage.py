"""Buffered usage tracking: no database write on every request.

Mechanism (documented in the README, "Usage tracking"):

- Each authenticated request, and each verification of a key, adds one to a buffer keyed by
  (key, agent, tenant, UTC day), plus the time and IP of the key's latest use.
- With Redis (`USAGE_REDIS_URL`, which defaults to a Redis `CACHE_URL`), a web process hands
  each use to Redis (atomic `HINCRBY`s that every process shares) and never writes usage to the
  database: the worker's `apikeys.flush_usage` job (`manage.py runworker`) does, every
  `USAGE_FLUSH_SECONDS`. A web process killed with SIGKILL loses nothing; without a worker the
  uses wait in Redis (`manage.py flushusage` writes them).
- Without Redis (or while it is unreachable), uses are counted in the process's memory and the
  request that finds the buffer holding `USAGE_FLUSH_BATCH` uses, or older than
  `USAGE_FLUSH_SECONDS`, writes it, as one batch. There is no thread: an idle process writes
  its last uses at its next request, or when gunicorn stops it (`worker_exit`); a hard kill
  (SIGKILL, OOM, power loss) loses what it held.
- A batch is written in one transaction: per-key per-day counts are *added*
  (`count = count + n`, so several processes and several flushes sum exactly), and
  `lastUsedAt`/`lastUsedIp` are set on keys and agents, never moved backwards. A failed write
  keeps the counts for the next flush (back in Redis when it is shared, so a later kill of the
  flushing process loses nothing either); with Redis, only a kill in the middle of a flush's
  database write can lose that one batch.

Rejected uses of keys that exist (`api_key.rejected`, SPEC §3) go through here too: the first
rejection of a key for a reason in each minute is audited at once; repeats within that minute
are summed in the buffer and written as one event with a `count` at the next flush, so a
client hammering with a revoked key cannot turn each request into a database write.
"""

import datetime as dt
import logging
import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from access.shared import redis_url as shared_redis_url
from agents.models import Agent
from apikeys.models import ApiKey, KeyUsage
from audit.services import record
from portal import outage

log = logging.getLogger("tessera.usage")

REJECTION_WINDOW = 60

_lock = threading.Lock()
_counts: dict[tuple, int] = {}
_last: dict = {}
_rejections: dict[tuple, tuple] = {}
_local_uses = 0  # uses in `_counts`, so the request path checks the batch bound cheaply
_last_flush = time.monotonic()


def record_use(key, ip: str | None, now=None) -> None:
    """Count one use of `key` (and its agent) from `ip`: handed to Redis when it is shared, else
    counted in memory and written with the batch it completes."""
    global _local_uses
    now = now or timezone.now()
    bucket = (key.pk, key.agent_id, key.tenant_id, now.date())
    shared = _redis()
    if shared is not None:
        try:
            shared.add(bucket, now, ip)
            _flush_if_due()
            return
        except Exception:
            log.warning("usage buffer in Redis unavailable; counting in memory", exc_info=True)
    with _lock:
        _local_uses += 1
        _counts[bucket] = _counts.get(bucket, 0) + 1
        if ip is None and key.pk in _last:
            ip = _last[key.pk][1]
        _last[key.pk] = (now, ip, key.agent_id)
    _flush_if_due()


def record_rejection(key, actor, metadata: dict) -> None:
    """Audit `api_key.rejected` for `key`: at once the first time per reason and minute, else
    summed into one event written at the next flush. `metadata` must hold `reason`."""
    reason = metadata["reason"]
    try:
        first = cache.add(f"rejected:{key.pk}:{reason}", 1, REJECTION_WINDOW)
    except Exception:  # the cache is down: audit every rejection rather than none
        first = True
    if first:
        _audit_rejection(key, actor, metadata)
        return
    with _lock:
        previous = _rejections.get((key.pk, reason))
        count = previous[3] + 1 if previous else 1
        _rejections[(key.pk, reason)] = (key, actor, metadata, count)
    _flush_if_due()


def shared_use(key, ip: str | None, now=None) -> tuple | None:
    """The writes that count one use of `key` in the Redis buffer (`RedisBuffer.add`'s), for
    `access.shared` to send in the request's one round trip; None when the buffer is not the
    Redis that the cache is."""
    shared = _redis()
    if shared is None or settings.USAGE_REDIS_URL != shared_redis_url():
        return None
    now = now or timezone.now()
    bucket = (key.pk, key.agent_id, key.tenant_id, now.date())
    return (
        shared.counts_name,
        _count_field(bucket),
        shared.last_name,
        str(key.pk),
        _last_value(now, ip, key.agent_id),
    )


def on_key_used(sender, key, ip, **kwargs) -> None:
    record_use(key, ip)


def on_key_rejected(sender, key, actor, metadata, **kwargs) -> None:
    record_rejection(key, actor, metadata)


def _audit_rejection(key, actor, metadata) -> None:
    target = ("api_key", str(key.pk), key.name)  # `key` may be the lookup's row, not a model
    record(key.tenant, actor, "api_key.rejected", target=target, metadata=metadata)


def _flush_if_due() -> None:
    """On the request path: write this process's own buffer once it holds a batch or has aged
    an interval. Redis's buffer is the worker's to write, never a request's."""
    if not (_local_uses or _last or _rejections):
        return
    full = _local_uses >= settings.USAGE_FLUSH_BATCH
    if full or time.monotonic() - _last_flush >= settings.USAGE_FLUSH_SECONDS:
        flush(shared=False)


def reset() -> None:
    """Drop the buffer and restart the interval (tests: each starts with nothing pending, and no
    request flushes in the middle of a test that counts its queries)."""
    global _last_flush, _local_uses
    shared = _redis()
    if shared is not None:
        shared.take()
    with _lock:
        _local_uses = 0
        _counts.clear()
        _last.clear()
        _rejections.clear()
        _last_flush = time.monotonic()


def pending() -> int:
    """Uses counted (in this process, and in Redis when shared) and not yet written."""
    shared = _redis()
    with _lock:
        return sum(_counts.values()) + (shared.pending() if shared is not None else 0)


def flush(*, shared: bool = True) -> int:
    """Write this process's buffer, and Redis's unless `shared` is False, to the database;
    returns how many uses were written (uses of keys deleted since are dropped)."""
    global _counts, _last, _rejections, _last_flush, _local_uses
    with _lock:
        counts, last, rejections = _counts, _last, _rejections
        _counts, _last, _rejections = {}, {}, {}
        _local_uses = 0
        _last_flush = time.monotonic()
    shared = _redis() if shared else None
    if shared is not None:
        try:
            _merge(counts, last, *shared.take())
        except Exception:
            log.warning("could not read the usage buffer in Redis", exc_info=True)
    for key, actor, metadata, count in rejections.values():
        try:
            _audit_rejection(key, actor, {**metadata, "count": count, "aggregated": True})
        except Exception:
            log.exception("could not record %d rejections of key %s", count, key.prefix)
    if not counts and not last:
        return 0
    try:
        written = _write(counts, last)
    except Exception as exc:
        if outage.is_unavailable(exc):
            outage.failed(exc)  # logged once per outage, like the requests' 503s
        else:
            log.exception("could not write usage counters; keeping them for the next flush")
        _keep(counts, last)
        return 0
    return written


def _keep(counts, last) -> None:
    """Put uses that could not be written back where the next flush finds them: into Redis when
    it is shared (so they outlive this process, and any process's flush writes them), else, or
    if Redis is unreachable too, into this process's buffer."""
    shared = _redis()
    if shared is not None:
        try:
            shared.put_back(counts, last)
            return
        except Exception:
            log.warning("could not return unwritten uses to Redis; keeping them in memory")
    with _lock:  # (not counted towards the next batch: a failing write is retried per interval)
        _merge(_counts, _last, counts, last)


def _merge(counts, last, more_counts, more_last) -> None:
    """Add `more_*` into `counts`/`last` (the latest use of a key wins)."""
    for bucket, n in more_counts.items():
        counts[bucket] = counts.get(bucket, 0) + n
    for pk, value in more_last.items():
        if pk not in last or last[pk][0] < value[0]:
            last[pk] = value


class RedisBuffer:
    """The usage buffer shared by every process through Redis (two hashes under `prefix`).

    `add` is one pipelined round trip of atomic increments; `take` reads and deletes both
    hashes in one Lua script, so two processes flushing at once never count a use twice.
    """

    TAKE = """
    local out = {}
    for i, name in ipairs(KEYS) do
        out[i] = redis.call('HGETALL', name)
        redis.call('DEL', name)
    end
    return out
    """

    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.counts_name, self.last_name = f"{prefix}:counts", f"{prefix}:last"
        self._take = self.client.register_script(self.TAKE)

    def add(self, bucket, now, ip) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self.counts_name, _count_field(bucket), 1)
        pipe.hset(self.last_name, str(bucket[0]), _last_value(now, ip, bucket[1]))
        pipe.execute()

    def put_back(self, counts, last) -> None:
        """Return a batch that a flush took but could not write, in one MULTI/EXEC (all or
        nothing). A key's latest use is put back only if no later one was recorded meanwhile."""
        pipe = self.client.pipeline(transaction=True)
        for bucket, n in counts.items():
            pipe.hincrby(self.counts_name, _count_field(bucket), n)
        for key_id, (when, ip, agent_id) in last.items():
            pipe.hsetnx(self.last_name, str(key_id), _last_value(when, ip, agent_id))
        pipe.execute()

    def take(self) -> tuple[dict, dict]:
        raw_counts, raw_last = self._take(keys=[self.counts_name, self.last_name])
        counts, last = {}, {}
        for field, n in zip(raw_counts[::2], raw_counts[1::2], strict=True):
            key_id, agent_id, tenant_id, day = field.decode().split("|")
            bucket = (
                uuid.UUID(key_id),
                uuid.UUID(agent_id) if agent_id else None,
                uuid.UUID(tenant_id),
                dt.date.fromisoformat(day),
            )
            counts[bucket] = counts.get(bucket, 0) + int(n)
        for field, value in zip(raw_last[::2], raw_last[1::2], strict=True):
            when, ip, agent_id = value.decode().split("|")
            last[uuid.UUID(field.decode())] = (
                dt.datetime.fromisoformat(when),
                ip or None,
                uuid.UUID(agent_id) if agent_id else None,
            )
        return counts, last

    def pending(self) -> int:
        return sum(int(n) for n in self.client.hvals(self.counts_name))


def _count_field(bucket) -> str:
    key_id, agent_id, tenant_id, day = bucket
    return f"{key_id}|{agent_id or ''}|{tenant_id}|{day}"


def _last_value(when, ip, agent_id) -> str:
    return f"{when.isoformat()}|{ip or ''}|{agent_id or ''}"


_buffers: dict[tuple, RedisBuffer] = {}


def _redis() -> RedisBuffer | None:
    """The shared buffer when `USAGE_REDIS_URL` is set (one client per URL and prefix)."""
    url = settings.USAGE_REDIS_URL
    if not url:
        return None
    config = (url, settings.USAGE_REDIS_PREFIX)
    if config not in _buffers:
        _buffers[config] = RedisBuffer(*config)
    return _buffers[config]


def _write(counts, last) -> int:
    # Keys deleted since their use are dropped: on PostgreSQL a foreign key violation only
    # surfaces at COMMIT (deferred constraints) and would fail every later flush.
    key_ids = {bucket[0] for bucket in counts} | set(last)
    existing = set(ApiKey.objects.filter(pk__in=key_ids).values_list("pk", flat=True))
    written = 0
    with transaction.atomic():
        for (key_id, agent_id, tenant_id, day), n in counts.items():
            if key_id not in existing:
                continue
            written += n
            if KeyUsage.objects.filter(key_id=key_id, date=day).update(count=F("count") + n):
                continue
            try:
                with transaction.atomic():
                    KeyUsage.objects.create(
                        key_id=key_id, agent_id=agent_id, tenant_id=tenant_id, date=day, count=n
                    )
            except IntegrityError:
                # Another process created the row between our UPDATE and INSERT.
                KeyUsage.objects.filter(key_id=key_id, date=day).update(count=F("count") + n)
        agents = {}
        for key_id, (when, ip, agent_id) in last.items():
            if key_id not in existing:
                continue
            changes = {"last_used_at": when}
            if ip:
                changes["last_used_ip"] = ip
            # Never move lastUsedAt backwards (another process may have flushed a later use).
            ApiKey.objects.filter(pk=key_id).exclude(last_used_at__gt=when).update(**changes)
            if agent_id and (agent_id not in agents or agents[agent_id]["last_used_at"] < when):
                agents[agent_id] = changes
        for agent_id, changes in agents.items():
            Agent.objects.filter(pk=agent_id).exclude(
                last_used_at__gt=changes["last_used_at"]
            ).update(**changes)
    return written
