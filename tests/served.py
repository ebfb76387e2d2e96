"""Serve the project with gunicorn in a child process, for tests that need a real server:
several threads or workers writing to one database, or a database that goes away."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Response:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


def request(url, *, method="GET", body=None, headers=None, timeout=30) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    headers = dict(headers or {})
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 (loopback)
            return Response(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers), err.read())


def wait_until_serving(base: str, server: subprocess.Popen, seconds: float = 60) -> None:
    """Wait until `server` answers /healthz at `base` (any status), failing if it exits."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            request(base + "/healthz", timeout=5)
            return
        except OSError:
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, f"the server did not start within {seconds} s"
            time.sleep(0.2)


@contextlib.contextmanager
def gunicorn(db_url: str, *, workers: int = 1, threads: int = 8, log_path=None, **env):
    """gunicorn on a free loopback port with the test settings (DEBUG off) and `db_url`;
    yields the base URL. The server's stderr (its log) goes to `log_path` when given."""
    port = free_port()
    child_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": db_url,
        "PYTHONPATH": str(ROOT),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_ACCESSLOG": "",
        **env,
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "-c",
        "gunicorn.conf.py",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "portal.wsgi:application",
    ]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    server = subprocess.Popen(command, cwd=ROOT, env=child_env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        if log_path:
            log.close()
