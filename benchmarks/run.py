"""Run the hot-path benchmark: `scripts/bench` (or `.venv/bin/python -m benchmarks.run`).

For each database (SQLite file, and PostgreSQL at `--pg-url` when it answers):

1. a child process creates a fresh database, migrates it and seeds the scenario keys through
   `apikeys.services` plus filler keys through `access.keyformat` (see benchmarks/seed.py);
2. in-process, with the Django test client: V1 against the bare view at 1,000 keys, then, with
   the table grown to `--keys` (100,000), bare and V1–V6 in interleaved rounds, and the SQL
   queries of one steady-state request of each;
3. served: gunicorn with 2 sync workers on 127.0.0.1 and a load generator at 16 connections
   (wrk when installed, else a bounded Python one) against the bare view, V6 (/keys/verify),
   T1 (an OAuth client-credentials token request), T2 (/agents/me with an access token) and K2
   (/agents/me with the key that minted it), interleaved.

Each database is measured twice when Redis answers at `--redis-url`: with Django's per-process
memory cache (the demo's configuration) and with Redis as `CACHE_URL` (production's, labelled
`<db>+redis`), in the same run. The in-process check counts each scenario's SQL queries and, with
Redis, its round trips to Redis (every command or pipeline the client sends).

Prints a table and writes every figure to `benchmarks/results/latest.json`.
"""

import argparse
import base64
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PG_URL = "postgres://postgres@127.0.0.1:5432/tessera_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"
TARGETS = {
    "V1": ("<=", 1.5, "≤ 1.5"),
    "V5": ("<=", 1.1, "≤ 1.1, 0 queries"),
    "scale": ("<=", 1.1, "≤ 1.1"),
    "served_pg": (">=", 0.6, "≥ 0.6 on PostgreSQL (stretch 0.8)"),
}
SERVED_LABELS = {
    "bare": "bare JSON view",
    "V6": "V6 POST /keys/verify",
    "T1": "T1 POST /oauth/token (client credentials, Basic)",
    "T2": "T2 GET /agents/me with an access token",
    "K2": "K2 GET /agents/me with the key that minted it",
}
QUERY_TARGETS = {"V1": 1, "V2": 1, "V3": 1, "V4": 1, "V5": 0, "V6": 1}
# With Redis, a warm valid key costs no query and one round trip (access.shared).
REDIS_TARGETS = {"V1": (0, 1), "V2": (0, 1), "V6": (0, 1)}


# --- child: one database, in-process ------------------------------------------------------


def child(args) -> None:
    """Runs in a fresh process whose DATABASE_URL is the benchmark database."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from apikeys import usage
    from benchmarks import inprocess, peers, seed

    call_command("migrate", verbosity=0)
    keys = seed.seed_scenarios()
    if getattr(settings, "BENCH_DRF_PEER", False):
        from benchmarks import drf_peer

        keys.drf = drf_peer.seed(args.keys)
    result = {
        "keys": keys.as_dict(),
        "scenarios": {name: inprocess.SCENARIOS[name][0] for name in inprocess.available(keys)},
    }
    names_small = ["bare", "V1"]
    seed.add_filler(args.small_keys - _key_count())
    _analyze()
    result["small"] = {
        "key_count": _key_count(),
        "timings": inprocess.measure(
            keys, names_small, rounds=args.rounds, per_round=args.requests
        ),
    }
    seed.add_filler(args.keys - _key_count())
    _analyze()
    names = inprocess.available(keys)
    from django.test import Client

    result["large"] = {
        "key_count": _key_count(),
        "queries": inprocess.check(Client(), keys, names),
        "timings": inprocess.measure(keys, names, rounds=args.rounds, per_round=args.requests),
    }
    if args.profile:
        result["profile"] = {
            name: inprocess.profile(keys, name, args.requests) for name in args.profile
        }
    result["lists"] = peers.list_queries(args.list_keys)
    result["offline_token"] = peers.offline_token_check(keys)
    if args.events:
        print(f"    seeding {args.events:,} audit events for the export", flush=True)
        export_key = peers.seed_events(args.events)
        _analyze()
        result["export"] = peers.export_in_child(os.environ["DATABASE_URL"], export_key)
    usage.flush()
    Path(args.child_out).write_text(json.dumps(result))


def _key_count() -> int:
    from apikeys.models import ApiKey

    return ApiKey.objects.count()


def _analyze() -> None:
    """Fresh statistics after the bulk insert, as autovacuum or a DBA would leave them; on
    SQLite the bulk insert's write-ahead log is checkpointed too, as it would be long before a
    deployment's 100,000th key (reads through a 100 MB log are slower than the table's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("ANALYZE")


# --- parent: orchestration, served load, report -------------------------------------------


def prepare_database(db: str, args, workdir: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    import psycopg

    url = args.pg_url
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def postgres_available(url: str) -> str | None:
    """The server version, or None when PostgreSQL does not answer."""
    try:
        import psycopg

        admin_url = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception:
        return None


def redis_available(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


def cache_env(cache_url: str | None) -> dict:
    """The environment of a configuration: Redis emptied first, so no run sees another's."""
    if not cache_url:
        return {"CACHE_URL": "locmemcache://tessera"}
    import redis

    redis.Redis.from_url(cache_url).flushdb()
    return {"CACHE_URL": cache_url}


def run_child(db_url: str, args, workdir: Path, cache_url: str | None = None) -> dict:
    out = workdir / "child.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--child-out",
        str(out),
        "--keys",
        str(args.keys),
        "--small-keys",
        str(args.small_keys),
        "--rounds",
        str(args.rounds),
        "--requests",
        str(args.requests),
        "--list-keys",
        str(args.list_keys),
        "--events",
        str(args.events),
    ]
    for name in args.profile or []:
        cmd += ["--profile", name]
    env = {**os.environ, "DATABASE_URL": db_url, **cache_env(cache_url)}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)  # noqa: S603 (our own interpreter)
    return json.loads(out.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn with 2 sync workers, the project's gunicorn.conf.py, the benchmark URLconf."""

    def __init__(self, db_url: str, workers: int = 2, cache_url: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_ACCESSLOG": "",
            **cache_env(cache_url),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "portal.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start: " + self.proc.stderr.read().decode()[-2000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def served(db_url: str, keys: dict, args, cache_url: str | None = None) -> dict:
    from benchmarks import load

    base = "/t/acme-corp/api/v1"
    auth = {"Authorization": f"Bearer {keys['admin']}"}
    body = json.dumps({"key": keys["agent"], "permission": "read:reports", "ip": "10.1.2.3"})
    targets = {
        "bare": load.Target("GET", f"{base}/bench/bare", auth, None),
        "V6": load.Target(
            "POST", f"{base}/keys/verify", {**auth, "Content-Type": "application/json"}, body
        ),
    }
    basic = base64.b64encode(f"{keys['oauth_client']}:{keys['oauth_secret']}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    targets["T1"] = load.Target(
        "POST",
        f"{base}/oauth/token",
        {"Authorization": f"Basic {basic}", **form},
        "grant_type=client_credentials",
    )
    server = Gunicorn(db_url, cache_url=cache_url)
    try:
        token = _access_token(server.url + targets["T1"].path, targets["T1"])
        targets["T2"] = load.Target(
            "GET", f"{base}/agents/me", {"Authorization": f"Bearer {token}"}, None
        )
        targets["K2"] = load.Target(
            "GET", f"{base}/agents/me", {"Authorization": f"Bearer {keys['oauth_secret']}"}, None
        )
        for target in targets.values():
            check = load.run(server.url, target, connections=16, seconds=1)
            if check["errors"]:
                raise RuntimeError(f"served warm-up failed: {check}")
        runs = {name: [] for name in targets}
        for _ in range(args.served_rounds):
            for name, target in targets.items():
                runs[name].append(
                    load.run(server.url, target, connections=16, seconds=args.duration)
                )
    finally:
        server.stop()
    out = {}
    for name, results in runs.items():
        out[name] = {
            "rps": round(statistics.median(r["rps"] for r in results), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in results), 2),
            "errors": sum(r["errors"] for r in results),
            "rounds_rps": [round(r["rps"], 1) for r in results],
        }
    ratios = {
        name: round(
            statistics.median(
                r["rps"] / bare["rps"] for r, bare in zip(runs[name], runs["bare"], strict=True)
            ),
            3,
        )
        for name in runs
        if name != "bare"
    }
    out["ratio"] = ratios["V6"]
    out["ratios"] = ratios
    out["generator"] = load.generator_name()
    return out


def _access_token(url: str, target) -> str:
    """One client-credentials request, for T2's bearer token."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, data=target.body.encode(), headers=target.headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())["access_token"]


def machine(pg_version: str | None) -> dict:
    import sqlite3

    import django

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version,
        "commit": commit,
    }


def verdict(value, target_key) -> str:
    op, limit, _ = TARGETS[target_key]
    ok = value <= limit if op == "<=" else value >= limit
    return "met" if ok else "MISSED"


def report(result: dict) -> str:
    m = result["machine"]
    cfg = result["config"]
    dbs = list(result["databases"])
    lines = [
        f"Tessera hot-path benchmark, {result['date']} (commit {m['commit']})",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}; "
        f"Python {m['python']}, Django {m['django']}, SQLite {m['sqlite']}"
        + (f", PostgreSQL {m['postgresql']}" if m["postgresql"] else ""),
        "Load average (1, 5, 15 min) at the start: "
        + ", ".join(f"{x:.2f}" for x in cfg.get("load_average", []))
        + " — the machine is shared: figures are indicative, ratios within one run comparable",
        "",
        f"In-process (Django test client, {cfg['rounds']} interleaved rounds × "
        f"{cfg['requests']} requests, {cfg['keys']:,} keys); µs/req = best round; "
        "ratio = best round / bare's best round",
        "",
    ]
    head = "| scenario | " + " | ".join(f"{db} µs/req | ratio | queries" for db in dbs)
    lines += [
        "Configurations: <db> = Django's per-process memory cache; <db>+redis = Redis as "
        "CACHE_URL (production's); queries = SQL queries (+ Redis round trips) of one warm request",
        "",
        head + " | target |",
        "|---" * (2 + 3 * len(dbs)) + "|",
    ]
    for name, desc in result["scenarios"].items():
        cells = []
        for db in dbs:
            large = result["databases"][db]["large"]
            t = large["timings"][name]
            queries = large["queries"][name]["queries"]
            trips = large["queries"][name].get("redis_round_trips")
            queries = f"{queries} + {trips} Redis" if trips is not None else queries
            cells.append(f"{t['us_per_request']:.0f} | {t['ratio']:.2f} | {queries}")
        target = (
            TARGETS[name][2]
            if name in TARGETS
            else (
                f"{QUERY_TARGETS[name]} quer{'y' if QUERY_TARGETS[name] == 1 else 'ies'}"
                if name in QUERY_TARGETS
                else ""
            )
        )
        label = desc if name == "bare" else f"{name} {desc}"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    cells = []
    for db in dbs:
        scale = result["databases"][db]["scale"]
        cells.append(f"{scale:.3f} ({verdict(scale, 'scale')})")
    lines += [
        "",
        f"V1 at {cfg['keys']:,} keys / V1 at {cfg['small_keys']:,} keys "
        "(each normalised by bare in its phase): "
        + ", ".join(f"{db} {c}" for db, c in zip(dbs, cells, strict=True))
        + " — target ≤ 1.1",
    ]
    for db in dbs:
        t = result["databases"][db]["large"]["timings"]
        q = result["databases"][db]["large"]["queries"]
        checks = [
            f"V1/bare {t['V1']['ratio']:.2f} {verdict(t['V1']['ratio'], 'V1')}",
            f"V5/bare {t['V5']['ratio']:.2f} {verdict(t['V5']['ratio'], 'V5')}",
            "queries V1–V4 = 1, V5 = 0, V6 = 1: "
            + ("met" if all(q[n]["queries"] == v for n, v in QUERY_TARGETS.items()) else "MISSED")
            if not db.endswith("+redis")
            else "warm V1, V2, V6 = 0 queries + 1 Redis round trip: "
            + (
                "met"
                if all(
                    (q[n]["queries"], q[n].get("redis_round_trips")) == v
                    for n, v in REDIS_TARGETS.items()
                )
                else "MISSED"
            ),
        ]
        if "D1" in t:
            ratio = t["V1"]["us_per_request"] / t["D1"]["us_per_request"]
            checks.append(f"V1/D1 (HasAPIKey) {ratio:.2f} {'met' if ratio < 1 else 'MISSED'}")
        checks.append(f"queries per verify (V6) {q['V6']['queries']}")
        lines.append(f"{db}: " + "; ".join(checks))
    lines += ["", f"Keys list, queries with 1 key / with {cfg['list_keys']:,} keys in the tenant:"]
    for db in dbs:
        lists = result["databases"][db].get("lists", {})
        cells = [
            f"{name} {' / '.join(str(n) for n in sizes.values())}" for name, sizes in lists.items()
        ]
        lines.append(f"{db}: " + ", ".join(cells))
    for db in dbs:
        data = result["databases"][db]
        o = data.get("offline_token")
        if o:
            v6 = data["large"]["timings"]["V6"]["us_per_request"]
            lines.append(
                f"{db}: a resource server checking a Tessera access token offline (PyJWT, "
                f"RS256, JWKS fetched once): {o['us_per_check']} µs per check, against V6 "
                f"(asking Tessera's /keys/verify, in-process) {v6:.0f} µs"
            )
    for db in dbs:
        e = result["databases"][db].get("export")
        if e:
            lines.append(
                f"{db}: audit export of {e['events']:,} events (JSON Lines, {e['megabytes']} MB): "
                f"{e['seconds']} s, peak RSS {e['peak_rss_mb']} MB (before the export "
                f"{e['rss_before_mb']} MB) — target < 100 MB"
            )
    if any("served" in result["databases"][db] for db in dbs):
        gen = next(
            result["databases"][db]["served"]["generator"]
            for db in dbs
            if "served" in result["databases"][db]
        )
        lines += [
            "",
            f"Served (gunicorn, 2 sync workers, 127.0.0.1; {gen}, 16 connections, "
            f"{cfg['served_rounds']} interleaved rounds × {cfg['duration']} s)",
            "",
            "| database | endpoint | req/s | p50 ms | p99 ms | ÷ bare req/s |",
            "|---|---|---|---|---|---|",
        ]
        for db in dbs:
            s = result["databases"][db].get("served")
            if not s:
                continue
            for name, label in SERVED_LABELS.items():
                if name not in s:
                    continue
                r = s[name]
                ratio = s.get("ratios", {}).get(name, 1.0)
                mark = (
                    f" ({verdict(ratio, 'served_pg')})"
                    if name == "V6" and db.startswith("postgresql")
                    else ""
                )
                lines.append(
                    f"| {db} | {label} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                    f"{r['p99_ms']:.1f} | {ratio:.2f}{mark} |"
                )
        lines.append("Target: V6 served req/s / bare served req/s ≥ 0.6 on PostgreSQL.")
    for db in dbs:
        for name, text in result["databases"][db].get("profile", {}).items():
            lines += ["", f"cProfile of {name} on {db} (top functions by own time):", text]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=100_000, help="keys in the table (default 100000)")
    p.add_argument("--small-keys", type=int, default=1_000, help="keys for the scale baseline")
    p.add_argument("--rounds", type=int, default=7, help="interleaved in-process rounds")
    p.add_argument("--requests", type=int, default=2000, help="requests per scenario and round")
    p.add_argument("--list-keys", type=int, default=10_000, help="keys for the list query count")
    p.add_argument("--events", type=int, default=1_000_000, help="audit events to export (0: skip)")
    p.add_argument("--db", default="sqlite,postgresql", help="databases, comma-separated")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", PG_URL))
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", REDIS_URL))
    p.add_argument("--cache", default="memory,redis", help="cache configurations, comma-separated")
    p.add_argument("--no-served", action="store_true", help="skip the gunicorn measurements")
    p.add_argument("--duration", type=float, default=5, help="seconds per served run")
    p.add_argument("--served-rounds", type=int, default=3)
    p.add_argument("--profile", action="append", help="cProfile a scenario (e.g. V1)")
    p.add_argument("--out", default=str(RESULTS / "latest.json"))
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.child_out:
        child(args)
        return
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    pg_version = postgres_available(args.pg_url) if "postgresql" in dbs else None
    if "postgresql" in dbs and pg_version is None:
        print(f"PostgreSQL does not answer at {args.pg_url}; measuring SQLite only", flush=True)
        dbs.remove("postgresql")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    caches = [c.strip() for c in args.cache.split(",") if c.strip()]
    if "redis" in caches and not redis_available(args.redis_url):
        print(f"Redis does not answer at {args.redis_url}; memory cache only", flush=True)
        caches.remove("redis")
    elif "redis" in caches:
        print(f"Redis answers at {args.redis_url}: measuring it as CACHE_URL too", flush=True)
    result = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(pg_version),
        "config": {
            "keys": args.keys,
            "small_keys": args.small_keys,
            "rounds": args.rounds,
            "requests": args.requests,
            "duration": args.duration,
            "served_rounds": args.served_rounds,
            "list_keys": args.list_keys,
            "events": args.events,
            "caches": caches,
            "load_average": list(os.getloadavg()),
        },
        "targets": {k: v[2] for k, v in TARGETS.items()},
        "scenarios": {},
        "databases": {},
    }
    configurations = [
        (db, cache)
        for db in dbs
        for cache in caches
        if cache == "memory" or db == "postgresql" or len(dbs) == 1
    ]
    for db, cache in configurations:
        label = db if cache == "memory" else f"{db}+redis"
        cache_url = args.redis_url if cache == "redis" else None
        workdir = Path(tempfile.mkdtemp(prefix=f"tessera-bench-{db}-"))
        try:
            print(f"==> {label}: seeding {args.keys:,} keys and measuring in-process", flush=True)
            db_url = prepare_database(db, args, workdir)
            data = run_child(db_url, args, workdir, cache_url)
            keys = data.pop("keys")
            result["scenarios"] = data.pop("scenarios")
            small = data["small"]["timings"]["V1"]["ratio"]
            large = data["large"]["timings"]["V1"]["ratio"]
            data["scale"] = round(large / small, 3)
            if not args.no_served:
                print(f"==> {label}: served (gunicorn, 2 workers, 16 connections)", flush=True)
                data["served"] = served(db_url, keys, args, cache_url)
            data["load_average_after"] = list(os.getloadavg())
            result["databases"][label] = data
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(result)
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
