"""Load generators for the served benchmark: `wrk` when installed, else a bounded Python one.

Both keep `connections` requests in flight against one URL for `seconds` and report how many
requests completed, requests/s, p50 and p99 latency, and how many answers were not 2xx.
"""

import http.client
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    headers: dict
    body: str | None


def generator_name() -> str:
    return "wrk" if shutil.which("wrk") else "Python load generator (16 threads)"


def run(base_url: str, target: Target, *, connections: int = 16, seconds: float = 5) -> dict:
    if shutil.which("wrk"):
        return _wrk(base_url, target, connections, seconds)
    return _python(base_url, target, connections, seconds)


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def _wrk(base_url, target, connections, seconds) -> dict:
    script = [f"wrk.method = {_lua_string(target.method)}"]
    for name, value in target.headers.items():
        script.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    if target.body is not None:
        script.append(f"wrk.body = {_lua_string(target.body)}")
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "request.lua"
        lua.write_text("\n".join(script) + "\n")
        out = subprocess.run(  # noqa: S603 (our own arguments)
            [  # noqa: S607 (wrk from PATH, like any CLI tool)
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                str(lua),
                base_url + target.path,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+\w+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if sock:
        errors += int(sock.group(1)) + int(sock.group(3)) + int(sock.group(4))
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": rps,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "errors": errors,
        "raw": out,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def _python(base_url, target, connections, seconds) -> dict:
    """16 threads, each with one request in flight (sync gunicorn closes every connection)."""
    parts = urlsplit(base_url)
    body = target.body.encode() if target.body is not None else None
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker():
        mine, bad = [], 0
        while True:
            start = time.perf_counter()
            if start >= deadline:
                break
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            try:
                conn.request(target.method, target.path, body=body, headers=target.headers)
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 400:
                    bad += 1
            except OSError:
                bad += 1
            finally:
                conn.close()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors[0],
    }
