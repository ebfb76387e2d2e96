"""Per-key sliding-window rate limits (SPEC §6b) and day/month quotas (SPEC §15), counted in
Django's cache. `admit` counts one request in every bucket it touches; `spend` is the doors' call.

Each key's admitted requests are counted in 6-second buckets. A request is admitted when the
buckets that overlap the last 60 seconds (the current one and the ten before it) hold fewer than
the key's limit; so over **any** 60 seconds a key gets at most its limit, and a burst across a
minute boundary cannot double it. Counting the oldest bucket whole errs on the safe side: in the
worst case a key waits up to 6 seconds longer than an exact sliding log would make it. A refused
request is taken back out of its bucket, so hammering while limited does not extend the wait.

With `CACHE_URL=redis://…` every worker and host shares the buckets, counted by one Lua script
(`access.shared`) in the request's one round trip to Redis (no EXISTS before INCR). A key over
its limit is refused; other keys and tenants are untouched because buckets are per key. An
agent's `rateLimitPerMinute` is one more window, shared by all its keys and tokens
(`windows_for`).

Quotas (`quotas_for`) count uses per UTC calendar day or month, for a key and for its agent, in
the same call and the same store: each counter is incremented first and compared after, so no
more than the limit is ever accepted in a period, whatever the number of app servers.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache

from access import shared
from portal import metrics
from portal.errors import QuotaExceeded, RateLimited

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


def windows_for(key) -> list[tuple[str, int]]:
    """The per-minute budgets a request of `key` spends (SPEC §6b, §15): the agent's
    `rateLimitPerMinute`, one budget shared by all its keys and tokens, and the key's own limit
    on top; a key with neither has its own budget of the deployment default."""
    windows = []
    if key.rate_limit_per_minute:
        windows.append((f"rl:{key.public_id}", key.rate_limit_per_minute))
    if key.agent_id and key.agent.rate_limit_per_minute:
        windows.append((f"rla:{key.agent_id.hex}", key.agent.rate_limit_per_minute))
    # The public id is unique and short: Django validates every character of a cache key.
    return windows or [(f"rl:{key.public_id}", settings.DEFAULT_RATE_LIMIT_PER_MINUTE)]


# --- quotas (SPEC §15) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaState:
    limit: int
    period: str  # "day" | "month"
    used: int
    resets_at: datetime  # the start of the next UTC calendar day or month

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def used_shown(self) -> int:  # a refused use is taken back; never show more than the limit
        return min(self.used, self.limit)

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.resets_at.timestamp() - now))

    def as_json(self) -> dict:
        return {
            "limit": self.limit,
            "period": self.period,
            "used": self.used_shown,
            "resetsAt": self.resets_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def period_bounds(period: str, now: float) -> tuple[str, datetime]:
    """The cache tag of the UTC calendar day or month holding `now`, and when it ends."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day.strftime("%Y%m%d"), day + timedelta(days=1)
    month = day.replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    return month.strftime("%Y%m"), following


def quotas_for(key) -> list[tuple[str, int, str]]:
    """`(counter base name, limit, period)` of each quota a request of `key` spends: the
    key's own and its agent's (shared by all the agent's keys and tokens)."""
    quotas = []
    if getattr(key, "quota_limit", None):
        quotas.append((f"q:{key.public_id}", key.quota_limit, key.quota_period))
    if key.agent_id and key.agent.quota_limit:
        quotas.append((f"qa:{key.agent_id.hex}", key.agent.quota_limit, key.agent.quota_period))
    return quotas


def quota_status(owner, now: float | None = None) -> QuotaState | None:
    """Where the quota of an agent or key (a model or a row) stands now, without counting."""
    if not owner.quota_limit:
        return None
    now = _clock() if now is None else now
    is_key = hasattr(owner, "public_id")
    base = f"q:{owner.public_id}" if is_key else f"qa:{owner.pk.hex}"
    tag, ends = period_bounds(owner.quota_period, now)
    try:
        used = _read(f"{base}:{tag}")
    except Exception:
        log.warning("quota cache unavailable; showing %s as unused", base, exc_info=True)
        used = 0
    return QuotaState(owner.quota_limit, owner.quota_period, int(used), ends)


# --- one call per request -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admission:
    """What counting one request did: the tightest per-minute window (for the RateLimit-*
    headers), the quota that refused it (or None), and whether a window refused it."""

    rate: RateState
    quota: QuotaState | None
    now: float

    @property
    def refusal(self) -> str | None:
        if self.rate.exceeded:
            return "rate_limited"
        if self.quota is not None and self.quota.exceeded:
            return "quota_exceeded"
        return None


def admit(key, now: float | None = None, request=None) -> Admission:
    """Count one request of `key` in every bucket it touches, in one call: its per-minute
    windows (`windows_for`) and its quotas (`quotas_for`). Each counter is incremented first
    and checked after (INCR), so across app servers no more than a limit is ever accepted; a
    request refused by any bucket is taken back out of all of them, so it spends nothing.

    With Redis, the request's round trip (`access.shared`) may have counted `key` already:
    `request.rate_counted` holds those counts, read here instead of counting twice.

    A key without a quota costs exactly what the rate limit alone did. If the cache fails, the
    request is let through (and logged): an outage of the cache should not take the API down.
    """
    now = _clock() if now is None else now
    counted = getattr(request, "rate_counted", None)
    precounted = bool(counted and counted.get(key.public_id))
    if not precounted and shared.client() is None:
        windows = windows_for(key)
        if len(windows) == 1 and not quotas_for(key):
            # The common case, kept as cheap as the rate limit alone: one window, no quota.
            return Admission(count(*windows[0], WINDOW, now), None, now)
    plan = _plan(key, now)
    taken_back = True  # the script takes a refused request back itself
    if precounted:
        counts = counted[key.public_id].pop(0)
    else:
        try:
            if shared.client() is not None:
                hit = shared.Hit(key.public_id, plan.bumped, plan.history, plan.checks)
                counts = shared.trip("", shared.ANY_EPOCH, [hit]).counted[key.public_id][0]
            else:
                counts, taken_back = _counts(plan.bumped, plan.history), False
        except Exception:
            log.warning(
                "rate-limit cache unavailable; letting %s through", key.public_id, exc_info=True
            )
            counts = {}
    states = [_window_state(names, limit, counts, plan.current, now) for names, limit in plan.named]
    rate = min(states, key=lambda state: state.remaining)
    quota_states = [QuotaState(lim, per, counts.get(c, 0), at) for c, lim, per, at in plan.ends]
    refusing = next((q for q in quota_states if q.exceeded), None)
    admission = Admission(rate, refusing or _tightest(quota_states), now)
    if admission.refusal:
        metrics.rate_limited("quota:" if refusing else plan.named[states.index(rate)][0][0])
    if admission.refusal and counts and not taken_back:
        _take_back(plan.bumped)
    return admission


@dataclass(frozen=True, slots=True)
class Plan:
    """The counters one request of a key touches, and what each admits."""

    current: int  # the current bucket's number
    bumped: dict  # counter name -> its ttl: incremented
    history: list  # the windows' earlier buckets: read
    named: list  # (a window's bucket names, its limit)
    ends: list  # (a quota's counter, its limit, period, when the period ends)

    @property
    def checks(self) -> list:
        """(limit, names): refused when the names' counts sum past the limit."""
        return [(limit, names) for names, limit in self.named] + [
            (limit, [counter]) for counter, limit, _, _ in self.ends
        ]


def _plan(key, now: float) -> Plan:
    current = int(now // BUCKET)
    bumped: dict[str, int] = {}
    history: list[str] = []
    named = []
    for name, limit in windows_for(key):
        names = [f"{name}:{b}" for b in range(current - SPAN + 1, current + 1)]
        bumped[names[-1]] = int(WINDOW + 2 * BUCKET)
        history += names[:-1]
        named.append((names, limit))
    ends = []
    for base, limit, period in quotas_for(key):
        tag, resets_at = period_bounds(period, now)
        counter = f"{base}:{tag}"
        bumped[counter] = math.ceil(resets_at.timestamp() - now) + 3600
        ends.append((counter, limit, period, resets_at))
    return Plan(current, bumped, history, named, ends)


def planned(key, use=None, gate=False, now: float | None = None):
    """The `access.shared.Hit` that counts one request of `key` in the request's round trip."""
    plan = _plan(key, _clock() if now is None else now)
    return shared.Hit(key.public_id, plan.bumped, plan.history, plan.checks, gate=gate, use=use)


def _tightest(states):
    return min(states, key=lambda q: q.limit - q.used) if states else None


def _window_state(names, limit, counts, current, now) -> RateState:
    used = sum(counts.get(n, 0) for n in names)
    oldest = next((i for i, n in enumerate(names) if counts.get(n)), len(names) - 1)
    # The oldest counted bucket stops overlapping the last window one bucket after it ends.
    leaves_at = (current - SPAN + 1 + oldest + 1) * BUCKET + WINDOW
    return RateState(limit=limit, remaining=limit - used, reset=max(1, math.ceil(leaves_at - now)))


def _take_back(bumped) -> None:
    for name in bumped:
        try:
            cache.decr(name)  # refused: it does not spend the budget
        except Exception:
            log.warning("could not take back a refused request of %s", name)


def hit(key, now: float | None = None, request=None) -> RateState:
    """Count one request for `key` now and say where its tightest window stands."""
    return admit(key, now, request).rate


def count(name: str, limit: int, window: int = WINDOW, now: float | None = None) -> RateState:
    """Count one hit on the sliding counter `name` (any short cache-safe string): at most
    `limit` admitted over any `window` seconds, in buckets of a tenth of the window."""
    now = _clock() if now is None else now
    bucket = window / (SPAN - 1)
    current = int(now // bucket)
    names = [f"{name}:{b}" for b in range(current - SPAN + 1, current + 1)]
    bumped = {names[-1]: int(window + 2 * bucket)}
    taken_back = True
    try:
        if shared.client() is not None:
            hit = shared.Hit(name, bumped, names[:-1], [(limit, names)])
            counts = shared.trip("", shared.ANY_EPOCH, [hit]).counted[name][0]
        else:
            counts, taken_back = _counts(bumped, names[:-1]), False
    except Exception:
        log.warning("rate-limit cache unavailable; letting %s through", name, exc_info=True)
        counts = {}
    used = sum(counts.values())
    if used > limit:
        metrics.rate_limited(name)
    if used > limit and counts and not taken_back:
        _take_back([names[-1]])
    oldest = next((i for i, n in enumerate(names) if counts.get(n)), len(names) - 1)
    leaves_at = (current - SPAN + 1 + oldest + 1) * bucket + window
    reset = max(1, math.ceil(leaves_at - now))
    return RateState(limit=limit, remaining=limit - used, reset=reset)


def _read(name: str) -> int:
    """A counter's value (0 when absent), where `admit` counts it."""
    pair = shared.client()
    if pair is not None:
        return int(pair[0].get(name) or 0)
    return int(cache.get(name) or 0)


def _counts(bumped: dict[str, int], history: list[str]) -> dict[str, int]:
    """Increment each counter in `bumped` (name -> ttl) and read the `history` ones. This is the
    one place that talks to the counter store, so it can become one round trip (a pipeline)."""
    counts = cache.get_many(history) if history else {}
    for counter, ttl in bumped.items():
        try:
            hits = cache.incr(counter)
        except ValueError:
            # First request of the bucket: add() is atomic (SET NX), so of two racing processes
            # one creates the counter and the other increments it.
            hits = 1 if cache.add(counter, 1, ttl) else cache.incr(counter)
        counts[counter] = hits
    return counts


def spend(key, now: float | None = None, request=None) -> dict:
    """Count a request of `key` and return its RateLimit-* headers; past a per-minute limit,
    429 `rate_limited`, past a quota 429 `quota_exceeded` (both with `Retry-After`). Every door
    that takes a key calls this."""
    admission = admit(key, now, request)
    headers = admission.rate.headers()
    if admission.refusal == "rate_limited":
        raise RateLimited(headers={**headers, "Retry-After": str(admission.rate.reset)})
    if admission.refusal == "quota_exceeded":
        retry = admission.quota.retry_after(admission.now)
        raise QuotaExceeded(
            f"This {admission.quota.period}'s quota of {admission.quota.limit} is used up.",
            headers={**headers, "Retry-After": str(retry)},
        )
    return headers
