"""Overlapping writes through a real multi-threaded server (gunicorn, gthread): a lost race is a
409 (or waits its turn), never a 500 "database is locked", on SQLite (a file, as deployed) and on
PostgreSQL alike (SPEC §4)."""

import re
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.perf.conftest import run_python, seeded_db
from tests.served import Response, gunicorn, request

THREADS = 8
ADMIN = "/t/acme-corp/api/v1/admin"

# On PostgreSQL the server writes to the test database itself: committed rows, flushed after.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(tmp_path):
    """(base URL, seeded db) of gunicorn with one worker of 8 threads on this run's database."""
    db = seeded_db(tmp_path)
    with gunicorn(db.url, threads=THREADS, USAGE_FLUSH_SECONDS="1") as base:
        yield base, db


def race(calls):
    """Send the requests at the same moment, one thread each; return the responses."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait(timeout=10)
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


# Eight writers queue for SQLite's one write lock: on a loaded machine the last one waits long.
TIMEOUT = 120


def post(base, path, secret, body=None):
    return request(
        base + path,
        method="POST",
        body=body or {},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=TIMEOUT,
    )


def get(base, path, secret):
    return request(base + path, headers={"Authorization": f"Bearer {secret}"}, timeout=TIMEOUT)


def statuses(responses):
    codes = sorted(r.status for r in responses)
    assert 500 not in codes, [r for r in responses if r.status >= 500]
    return codes


def test_parallel_creates_of_one_agent_name_give_one_201_and_409s(served):
    base, db = served
    names = ["Racer", "racer", "RACER", "Racer", "rAcer", "racer", "Racer", "RaCeR"]
    responses = race(
        [lambda n=n: post(base, f"{ADMIN}/agents", db.admin_secret, {"name": n}) for n in names]
    )
    assert statuses(responses) == [201] + [409] * (THREADS - 1)
    assert all(r.json()["error"] == "conflict" for r in responses if r.status == 409)
    listed = get(base, f"{ADMIN}/agents?limit=200", db.admin_secret).json()["data"]
    assert sum(1 for a in listed if a["name"].casefold() == "racer") == 1


def test_parallel_rotations_of_one_key_give_one_successor(served):
    base, db = served
    target = post(base, f"{ADMIN}/api-keys", db.admin_secret, {"name": "target"}).json()
    responses = race(
        [
            lambda: post(base, f"{ADMIN}/api-keys/{target['id']}/rotate", db.admin_secret)
            for _ in range(THREADS)
        ]
    )
    assert statuses(responses) == [201] + [409] * (THREADS - 1)
    keys = get(base, f"{ADMIN}/api-keys?limit=200", db.admin_secret).json()["data"]
    assert sum(1 for k in keys if k["name"] == "target" and k["status"] != "revoked") == 1


def test_parallel_rotate_key_of_one_agent_gives_one_successor(served):
    base, db = served
    agent = next(
        a
        for a in get(base, f"{ADMIN}/agents", db.admin_secret).json()["data"]
        if a["name"] == "bot"
    )
    url = f"{ADMIN}/agents/{agent['id']}/rotate-key"
    responses = race(
        [
            lambda: post(base, url, db.admin_secret, {"keyId": db.agent_key_id})
            for _ in range(THREADS)
        ]
    )
    assert statuses(responses) == [201] + [409] * (THREADS - 1)


def test_parallel_self_rotations_give_one_successor(served):
    base, db = served
    responses = race(
        [lambda: post(base, "/t/acme-corp/api/v1/agents/me/rotate", db.agent_secret)] * THREADS
    )
    codes = statuses(responses)
    # A loser either sees the key already rotated (409) or, authenticating after the winner
    # committed, already revoked (401).
    assert codes.count(201) == 1 and set(codes) <= {201, 401, 409}


def test_parallel_revokes_of_one_key_give_one_200_and_409s(served):
    base, db = served
    target = post(base, f"{ADMIN}/api-keys", db.admin_secret, {"name": "target"}).json()
    responses = race(
        [
            lambda: post(base, f"{ADMIN}/api-keys/{target['id']}/revoke", db.admin_secret)
            for _ in range(THREADS)
        ]
    )
    assert statuses(responses) == [200] + [409] * (THREADS - 1)


def test_parallel_logins_and_creates_next_to_the_usage_flush_never_500(served):
    base, db = served
    # Uses of the agent key fill the usage buffer, flushed every second by the worker's thread
    # while the creates write.
    calls = [lambda: get(base, "/t/acme-corp/api/v1/agents/me", db.agent_secret)] * 4
    calls += [
        lambda i=i: post(base, f"{ADMIN}/agents", db.admin_secret, {"name": f"worker-{i}"})
        for i in range(4)
    ]
    for _ in range(3):
        codes = statuses(race(calls))
        assert set(codes) <= {200, 201, 409}


ADD_USER = """
import django
django.setup()
from tenants.models import Membership, Tenant, User
user = User.objects.create_user("owner@acme.test", "correct horse battery staple")
Membership.objects.create(tenant=Tenant.objects.get(slug="acme-corp"), user=user, role="owner")
"""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def log_in(base):
    """GET the login page for its CSRF cookie and token, then POST the password."""
    page = request(base + "/login")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    cookie = page.headers["Set-Cookie"].split(";")[0]
    form = {
        "login": "owner@acme.test",
        "password": "correct horse battery staple",
        "csrfmiddlewaretoken": token.decode(),
    }
    req = urllib.request.Request(  # noqa: S310 (loopback)
        base + "/login",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=60) as response:
            return Response(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers), err.read())


def test_parallel_logins_beside_api_writes_and_the_usage_flush_never_500(served):
    base, db = served
    run_python(ADD_USER, db.url)
    calls = [lambda: log_in(base)] * 4
    calls += [lambda: get(base, "/t/acme-corp/api/v1/agents/me", db.agent_secret)] * 2
    calls += [
        lambda i=i: post(base, f"{ADMIN}/api-keys", db.admin_secret, {"name": f"k{i}"})
        for i in range(2)
    ]
    for _ in range(3):
        codes = statuses(race(calls))
        assert codes == [200, 200, 201, 201, 302, 302, 302, 302]
