"""Buffered usage tracking: no database write on every request.

Mechanism (documented in the README, "Usage tracking"):

- Each authenticated request, and each verification of a key, adds one to a buffer keyed by
  (key, agent, tenant, UTC day), plus the time and IP of the key's latest use. Nothing touches
  the database on the request path. The buffer is in Redis when `USAGE_REDIS_URL` is set (it
  defaults to a Redis `CACHE_URL`): atomic `HINCRBY`s that every process shares, so a worker
  killed with SIGKILL loses nothing, and any process's flush writes them. Without Redis it is
  an in-process dict under a lock (the single-process default).
- The buffer is written in one transaction: per-key per-day counts are *added*
  (`count = count + n`, so several processes and several flushes sum exactly), and
  `lastUsedAt`/`lastUsedIp` are set on keys and agents.
- When: every `USAGE_FLUSH_SECONDS` (60) from a daemon thread per process, started by the first
  request in every server (runserver included) and by gunicorn's `post_worker_init`, so
  `lastUsedAt` lags by at most that interval even on an idle server; without that thread
  (`USAGE_FLUSH_THREAD=false`, as in the tests) a request that finds the buffer older than the
  interval flushes it. Also at interpreter exit (`atexit`) and in gunicorn's
  `worker_exit` hook, so a graceful shutdown or reload loses nothing; `manage.py flushusage`
  flushes the buffer of the process it runs in (and Redis's). A failed write keeps the counts
  for the next flush (back in Redis when it is shared, so a later kill of the flushing process
  loses nothing either). With the in-memory buffer only, a hard kill (SIGKILL, OOM, power loss)
  loses at most one interval of that process's counts; with Redis, only a kill in the middle of
  a flush's database write can lose that one batch.

Rejected uses of keys that exist (`api_key.rejected`, SPEC §3) go through here too: the first
rejection of a key for a reason in each minute is audited at once; repeats within that minute
are summed in the buffer and written as one event with a `count` at the next flush, so a
client hammering with a revoked key cannot turn each request into a database write.
"""

import atexit
import datetime as dt
import logging
import os
import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

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
_last_flush = time.monotonic()
_flusher: dict = {}  # pid -> (thread, stop event): a forked child must start its own


def record_use(key, ip: str | None, now=None) -> None:
    """Count one use of `key` (and its agent) from `ip`: Redis or memory, never the database."""
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


def on_key_used(sender, key, ip, **kwargs) -> None:
    record_use(key, ip)


def on_key_rejected(sender, key, actor, metadata, **kwargs) -> None:
    record_rejection(key, actor, metadata)


def on_request_started(**kwargs) -> None:
    ensure_flusher()


def _audit_rejection(key, actor, metadata) -> None:
    target = ("api_key", str(key.pk), key.name)  # `key` may be the lookup's row, not a model
    record(key.tenant, actor, "api_key.rejected", target=target, metadata=metadata)


def _flush_if_due() -> None:
    if _flusher_running():
        return  # the flusher thread owns the schedule; requests never write
    if time.monotonic() - _last_flush >= settings.USAGE_FLUSH_SECONDS:
        flush()


def reset() -> None:
    """Drop the buffer and restart the interval (tests: each starts with nothing pending, and no
    request flushes in the middle of a test that counts its queries)."""
    global _last_flush
    shared = _redis()
    if shared is not None:
        shared.take()
    with _lock:
        _counts.clear()
        _last.clear()
        _rejections.clear()
        _last_flush = time.monotonic()


def pending() -> int:
    """Uses counted (in this process, and in Redis when shared) and not yet written."""
    shared = _redis()
    with _lock:
        return sum(_counts.values()) + (shared.pending() if shared is not None else 0)


def flush() -> int:
    """Write this process's buffer to the database; returns how many uses were written
    (uses of keys deleted since are dropped)."""
    global _counts, _last, _rejections, _last_flush
    with _lock:
        counts, last, rejections = _counts, _last, _rejections
        _counts, _last, _rejections = {}, {}, {}
        _last_flush = time.monotonic()
    shared = _redis()
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
    with _lock:
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


def _flusher_running() -> bool:
    # A forked child inherits the dict but not the thread (is_alive() is False there).
    return any(thread.is_alive() for thread, _ in _flusher.values())


def start_flusher(interval: float | None = None) -> threading.Thread:
    """Flush every `interval` seconds (default USAGE_FLUSH_SECONDS) from a daemon thread.

    Started by gunicorn's `post_worker_init` hook in each worker. Idempotent per process.
    """
    pid = os.getpid()
    if pid in _flusher:
        return _flusher[pid][0]
    interval = settings.USAGE_FLUSH_SECONDS if interval is None else interval
    stop = threading.Event()

    def run():
        while not stop.wait(interval):
            try:
                flush()
            finally:
                connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=run, name="tessera-usage-flusher", daemon=True)
    _flusher[pid] = (thread, stop)
    thread.start()
    return thread


def ensure_flusher() -> None:
    """Start this process's flusher unless it runs (called as each request starts: cheap)."""
    entry = _flusher.get(os.getpid())
    if entry is None or not entry[0].is_alive():
        _flusher.pop(os.getpid(), None)
        start_flusher()


def stop_flusher() -> None:
    entry = _flusher.pop(os.getpid(), None)
    if entry:
        entry[1].set()
        entry[0].join(timeout=5)


atexit.register(flush)
