"""Per-key sliding-window rate limits (SPEC §6b), counted in Django's cache.

Each key's admitted requests are counted in 6-second buckets. A request is admitted when the
buckets that overlap the last 60 seconds (the current one and the ten before it) hold fewer than
the key's limit; so over **any** 60 seconds a key gets at most its limit, and a burst across a
minute boundary cannot double it. Counting the oldest bucket whole errs on the safe side: in the
worst case a key waits up to 6 seconds longer than an exact sliding log would make it. A refused
request is taken back out of its bucket, so hammering while limited does not extend the wait.

With `CACHE_URL=redis://…` every worker and host shares the buckets, counted by one Lua script
(`access.shared`), in the request's one round trip to Redis. A key over its limit is refused;
other keys and tenants are untouched because buckets are per key.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from access import shared
from portal.errors import RateLimited

log = logging.getLogger("tessera.ratelimit")

WINDOW = 60
BUCKET = 6
SPAN = WINDOW // BUCKET + 1  # buckets that overlap any 60 s ending now
_clock = time.time  # tests pin it to share one window with another process


@dataclass(frozen=True, slots=True)
class RateState:
    limit: int
    remaining: int
    reset: int  # seconds until the oldest counted request stops counting

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self) -> dict:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.remaining, 0)),
            "RateLimit-Reset": str(self.reset),
        }


def limit_for(key) -> int:
    if key.rate_limit_per_minute:
        return key.rate_limit_per_minute
    if key.agent_id and key.agent.rate_limit_per_minute:
        return key.agent.rate_limit_per_minute
    return settings.DEFAULT_RATE_LIMIT_PER_MINUTE


def hit(key, now: float | None = None, request=None) -> RateState:
    """Count one request for `key` now and say where it stands (`exceeded`: refuse it).

    A request whose round trip to Redis already counted `key` (`access.shared`) reads that
    count from `request.rate_counted` instead of counting twice.

    If the cache itself fails, the request is let through (and logged): rate limits protect
    the service, an outage of the cache should not take the API down with it.
    """
    counted = getattr(request, "rate_counted", None)
    if counted and counted.get(key.public_id):
        used, oldest = counted[key.public_id].pop(0)
        return _state(limit_for(key), used, oldest, _clock() if now is None else now, WINDOW)
    # The public id is unique and short: Django validates every character of a cache key.
    return count(f"rl:{key.public_id}", limit_for(key), WINDOW, now)


def planned(key, now: float | None = None, use=None, gate=False):
    """The `access.shared.Hit` that counts one request of `key` in the shared round trip."""
    names, _ = _names(f"rl:{key.public_id}", WINDOW, _clock() if now is None else now)
    return shared.Hit(key.public_id, names, limit_for(key), _ttl(WINDOW), gate=gate, use=use)


def _names(name: str, window: int, now: float) -> tuple[list[str], float]:
    bucket = window / (SPAN - 1)
    current = int(now // bucket)
    return [f"{name}:{b}" for b in range(current - SPAN + 1, current + 1)], bucket


def _ttl(window: int) -> int:
    return int(window + 2 * window / (SPAN - 1))


def _state(limit: int, used: int, oldest: int, now: float, window: int) -> RateState:
    """Where a counter stands after a hit: `used` in the window, `oldest` the 1-based position
    (of SPAN, oldest first) of the oldest bucket holding a count."""
    bucket = window / (SPAN - 1)
    current = int(now // bucket)
    # The oldest counted bucket stops overlapping the last window one bucket after it ends.
    leaves_at = (current - SPAN + oldest + 1) * bucket + window
    reset = max(1, math.ceil(leaves_at - now))
    return RateState(limit=limit, remaining=limit - used, reset=reset)


def count(name: str, limit: int, window: int = WINDOW, now: float | None = None) -> RateState:
    """Count one hit on the sliding counter `name` (any short cache-safe string): at most
    `limit` admitted over any `window` seconds, in buckets of a tenth of the window."""
    now = _clock() if now is None else now
    names, _ = _names(name, window, now)
    if shared.client() is not None:
        # Redis: one script call counts, reads and takes a refusal back (no EXISTS first).
        hit = shared.Hit(name, names, limit, _ttl(window))
        try:
            [(used, oldest)] = shared.trip("", shared.ANY_EPOCH, [hit]).counted[name]
        except Exception:
            log.warning("rate-limit cache unavailable; letting %s through", name, exc_info=True)
            used, oldest = 0, SPAN
        return _state(limit, used, oldest, now, window)
    try:
        counts = _counts(names, ttl=_ttl(window))
    except Exception:
        log.warning("rate-limit cache unavailable; letting %s through", name, exc_info=True)
        counts = {}
    used = sum(counts.values())
    if used > limit:
        try:
            cache.decr(names[-1])  # refused: it does not spend the budget
        except Exception:
            log.warning("could not take back a refused request of %s", name)
    oldest = next((i for i, n in enumerate(names) if counts.get(n)), len(names) - 1)
    return _state(limit, used, oldest + 1, now, window)


def _counts(names: list[str], ttl: int) -> dict[str, int]:
    """Increment the current bucket (the last name) and read the earlier ones."""
    counter = names[-1]
    try:
        hits = cache.incr(counter)
    except ValueError:
        # First request of the bucket: add() is atomic (SET NX), so of two racing processes
        # one creates the counter and the other increments it.
        hits = 1 if cache.add(counter, 1, ttl) else cache.incr(counter)
    counts = cache.get_many(names[:-1])
    counts[counter] = hits
    return counts


def spend(key, now: float | None = None, request=None) -> dict:
    """Count a request of `key` and return its RateLimit-* headers; past the limit, 429
    (`RateLimited`, with `Retry-After`). Every door that takes a key calls this."""
    state = hit(key, now, request)
    headers = state.headers()
    if state.exceeded:
        raise RateLimited(headers={**headers, "Retry-After": str(state.reset)})
    return headers
