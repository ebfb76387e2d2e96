"""A real database outage: a PostgreSQL cluster of the test's own (never the machine's shared
one) serves gunicorn; the cluster is stopped, every request answers 503 (JSON under /api/v1/, a
page in the portal) and the log holds a line or two, not a traceback per request; the cluster
is started again and everything answers as before."""

import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.perf.conftest import SEED, run_python
from tests.served import free_port, gunicorn, request

BINDIR = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)


def _postgres_user():
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def _skip_reason():
    if BINDIR is None or not os.path.exists(f"{BINDIR}/initdb"):
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if _postgres_user() is None:
        return "no `postgres` OS user to run a cluster as"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "starting a cluster as `postgres` needs root and runuser"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")

SEED_SESSION = (
    SEED
    + """
from django.test import Client
from tenants.models import Membership, User
user = User.objects.create_user("owner@acme.test", "correct horse battery staple")
Membership.objects.create(tenant=tenant, user=user, role="owner")
client = Client()
client.force_login(user)
print(json.dumps({"admin": [str(admin.pk), admin_secret], "agent": [str(key.pk), agent_secret],
                  "session": client.cookies["sessionid"].value}))
"""
)
API = "/t/acme-corp/api/v1/admin/api-keys"
PAGE = "/t/acme-corp/portal/settings/api-keys"


class Cluster:
    """A throwaway PostgreSQL cluster on a free port, run as the `postgres` OS user."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="tessera-pg-"))
        user = _postgres_user()
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/tessera"
        self._as_postgres(
            f"{BINDIR}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync"
        )

    def _as_postgres(self, *command):
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            f"{BINDIR}/pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            self.dir / "log",
            "-w",
            "start",
        )

    def stop(self):
        self._as_postgres(f"{BINDIR}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def create_database(self):
        self._as_postgres(
            f"{BINDIR}/psql",
            "-h",
            "127.0.0.1",
            "-p",
            self.port,
            "-U",
            "postgres",
            "-c",
            "CREATE DATABASE tessera",
        )

    def remove(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    pg = Cluster()
    try:
        pg.start()
        pg.create_database()
        yield pg
    finally:
        pg.remove()


def test_stopping_the_database_gives_503s_logged_once_and_a_full_recovery(cluster, tmp_path):
    seeded = json.loads(run_python(SEED_SESSION, cluster.url).strip().splitlines()[-1])
    key = {"Authorization": f"Bearer {seeded['admin'][1]}"}
    session = {"Cookie": f"sessionid={seeded['session']}"}
    log_path = tmp_path / "gunicorn.log"

    with gunicorn(cluster.url, workers=2, threads=2, log_path=log_path) as base:

        def api():
            return request(base + API, headers=key)

        def page():
            return request(base + PAGE, headers=session)

        def post():
            return request(base + API, method="POST", body={"name": "k"}, headers=key)

        assert api().status == 200
        assert page().status == 200

        cluster.stop()
        answers = [call() for _ in range(10) for call in (api, page, post)]
        for response in answers:
            assert response.status == 503, response
            assert int(response.headers["Retry-After"]) > 0
        for response in answers[::3] + answers[2::3]:
            assert response.headers["Content-Type"] == "application/json"
            assert response.json()["error"] == "service_unavailable"
            assert response.json()["status"] == 503
        for response in answers[1::3]:
            assert response.headers["Content-Type"].startswith("text/html")
            assert b"Service unavailable" in response.body
        for headers in ({}, session):  # the login page, anonymous or logged in
            login = request(base + "/login", headers=headers)
            assert login.status == 503, login
            assert b"Service unavailable" in login.body

        cluster.start()
        deadline = time.monotonic() + 30
        while api().status != 200:
            assert time.monotonic() < deadline, "no recovery within 30 s"
            time.sleep(0.2)
        for _ in range(4):  # every worker, whichever answers
            assert api().status == 200
            assert page().status == 200
        assert post().status == 201
        assert request(base + "/login").status == 200

    log = log_path.read_text()
    assert "Traceback" not in log
    down = log.count("database unavailable")
    assert 1 <= down <= 2, log  # once per worker process at most, not once per request
    assert log.count("database reachable again") <= down
    assert "Internal Server Error" not in log and "Service Unavailable:" not in log
