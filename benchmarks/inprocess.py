"""In-process measurements: Django's test client through the full middleware stack.

Every scenario is timed in interleaved rounds with the bare view. A scenario's time is its best
round and its ratio is best round / bare's best round: on a shared virtual machine a round is
only ever slowed down by others (a burst of steal time once made bare's rounds 275–505 µs in
one run), never sped up, so the best round is the measurement and the rest is noise (as
`timeit` advises). The median over rounds of the per-round ratio is kept in the JSON too.
"""

import contextlib
import gc
import json
import statistics
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from benchmarks.seed import TENANT

BASE = f"/t/{TENANT}/api/v1"
BARE = f"{BASE}/bench/bare"
PING = f"{BASE}/bench/ping"
VERIFY = f"{BASE}/keys/verify"
DRF = f"{BASE}/bench/drf"

# name -> (description, key attribute for the Authorization header, path, expected status)
SCENARIOS = {
    "bare": ("bare JSON view, no authentication", "admin", BARE, 200),
    "V1": ("valid admin key, small GET", "admin", PING, 200),
    "V2": ("deprecated key", "deprecated", PING, 200),
    "V3": ("revoked key", "revoked", PING, 401),
    "V4": ("well-formed key, unknown id", "unknown", PING, 401),
    "V5": ("malformed key (checksum)", "malformed", PING, 401),
    "V6": ("POST /keys/verify with an agent key", "admin", VERIFY, 200),
    "D1": ("peer: DRF view, djangorestframework-api-key HasAPIKey", "drf", DRF, 200),
}


def available(keys) -> list[str]:
    """The scenarios this run can measure (D1 needs the `[bench]` extra)."""
    return [name for name in SCENARIOS if name != "D1" or keys.drf]


def verify_body(keys) -> str:
    return json.dumps({"key": keys.agent, "permission": "read:reports", "ip": "10.1.2.3"})


def request_fn(client: Client, keys, name: str):
    """A zero-argument callable that makes one request of scenario `name`."""
    _, attr, path, _ = SCENARIOS[name]
    scheme = "Api-Key" if name == "D1" else "Bearer"
    headers = {"Authorization": f"{scheme} {getattr(keys, attr)}"}
    if name == "V6":
        body = verify_body(keys)
        return lambda: client.post(path, body, content_type="application/json", headers=headers)
    return lambda: client.get(path, headers=headers)


@contextlib.contextmanager
def redis_round_trips():
    """Count the round trips this process makes to Redis: every packed write a redis-py
    connection sends (one per command, one per pipeline or script call) is answered once.
    Yields a list whose length is the count (the commands sent, for a failing test's message).
    """
    from redis.connection import AbstractConnection

    sent = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = counting
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = original


def _uses_redis() -> bool:
    from django.conf import settings

    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


def check(client, keys, names) -> dict:
    """Make one request per scenario, check its status, and count its SQL queries (and its
    round trips to Redis when Redis is the cache)."""
    out = {}
    for name in names:
        fn = request_fn(client, keys, name)
        fn()  # warm up: first-use work (an audited rejection, cached lookups) is not steady state
        fn()  # the second fills the key-row cache under the epoch the first one created
        with (
            CaptureQueriesContext(connection) as ctx,
            redis_round_trips() if _uses_redis() else contextlib.nullcontext() as trips,
        ):
            response = fn()
        expected = SCENARIOS[name][3]
        if response.status_code != expected:
            raise RuntimeError(
                f"{name}: expected {expected}, got {response.status_code}: {response.content[:200]}"
            )
        if name == "V6" and response.json().get("code") != "VALID":
            raise RuntimeError(f"V6: verification answered {response.json()}")
        if name == "V2" and "Deprecation" not in response:
            raise RuntimeError("V2: no Deprecation header on a deprecated key's response")
        out[name] = {
            "queries": len(ctx.captured_queries),
            "sql": [_statement(q["sql"]) for q in ctx.captured_queries],
        }
        if trips is not None:
            out[name]["redis_round_trips"] = len(trips)
    return out


def _statement(sql: str) -> str:
    """SELECT, INSERT… (psycopg's server-binding cursors log "QUERY = '…' - PARAMS = …")."""
    return sql.lstrip().removeprefix("QUERY = '").split()[0].upper()


def measure(keys, names, *, rounds: int, per_round: int) -> dict:
    """Interleaved rounds; returns per-scenario µs/request (median) and ratio to bare (median)."""
    client = Client()
    fns = {name: request_fn(client, keys, name) for name in names}
    for fn in fns.values():
        for _ in range(min(200, per_round)):
            fn()
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = fns[name]
            gc.collect()
            start = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[name].append((time.perf_counter() - start) / per_round * 1e6)
    out = {}
    for name in names:
        ratios = [t / b for t, b in zip(times[name], times["bare"], strict=True)]
        out[name] = {
            "us_per_request": round(min(times[name]), 1),
            "ratio": round(min(times[name]) / min(times["bare"]), 3),
            "ratio_median_of_rounds": round(statistics.median(ratios), 3),
            "rounds_us": [round(t, 1) for t in times[name]],
        }
    return out


def profile(keys, name: str, requests: int = 2000, top: int = 25) -> str:
    """cProfile `requests` requests of scenario `name`; returns the top functions by own time."""
    import cProfile
    import io
    import pstats

    client = Client()
    fn = request_fn(client, keys, name)
    for _ in range(200):
        fn()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(requests):
        fn()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()
