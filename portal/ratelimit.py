"""Per-key fixed-window rate limits (SPEC §6b), counted in Django's cache.

With `CACHE_URL=redis://…` every worker and host shares one counter per key and minute. A key
over its limit is refused; other keys and tenants are untouched because counters are per key.
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger("tessera.ratelimit")

WINDOW = 60
_clock = time.time  # tests pin it to share one window with another process


@dataclass(frozen=True, slots=True)
class RateState:
    limit: int
    remaining: int
    reset: int  # seconds until the window ends

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


def hit(key, now: float | None = None) -> RateState:
    """Count one request for `key` in the current window and say where it stands.

    The counter is per key and per minute, so one key over its limit never affects another key
    or tenant. If the cache itself fails, the request is let through (and logged): rate limits
    protect the service, an outage of the cache should not take the API down with it.
    """
    # The public id is unique and short: Django validates every character of a cache key.
    return count(f"rl:{key.public_id}", limit_for(key), WINDOW, now)


def count(name: str, limit: int, window_seconds: int, now: float | None = None) -> RateState:
    """Count one hit on the fixed-window counter `name` (any short cache-safe string)."""
    now = _clock() if now is None else now
    window = int(now // window_seconds)
    counter = f"{name}:{window}"
    reset = max(1, int((window + 1) * window_seconds - now))
    try:
        try:
            hits = cache.incr(counter)
        except ValueError:
            # First request of the window: add() is atomic (SET NX), so of two racing processes
            # one creates the counter and the other increments it.
            hits = 1 if cache.add(counter, 1, window_seconds + 5) else cache.incr(counter)
    except Exception:
        log.warning("rate-limit cache unavailable; letting %s through", name, exc_info=True)
        hits = 0
    return RateState(limit=limit, remaining=limit - hits, reset=reset)
