"""Helpers for tests that need a second process: a scratch SQLite database file that both this
process and the other one can open, seeded with a tenant and keys."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

SEED = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tenants.models import Tenant
from agents.models import Agent
from apikeys import services
from access.actor import Actor
tenant = Tenant.objects.create(slug="acme-corp", name="Acme Corp")
actor = Actor.system("tests")
admin, admin_secret = services.mint_key(
    tenant, actor, name="admin", rate_limit_per_minute=1_000_000
)
agent = Agent.objects.create(tenant=tenant, name="bot")
key, agent_secret = services.mint_key(tenant, actor, name="agent", agent=agent)
print(json.dumps({"admin": [str(admin.pk), admin_secret], "agent": [str(key.pk), agent_secret]}))
"""


def run_python(code: str, db_url: str, *args, settings="tests.settings", timeout=60) -> str:
    """Run `code` in a fresh interpreter with the project's settings and `db_url`."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": db_url,
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise AssertionError(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout


class ScratchDb:
    def __init__(self, path: Path):
        self.path = path
        self.url = f"sqlite:///{path}"
        seeded = json.loads(run_python(SEED, self.url).strip().splitlines()[-1])
        self.admin_id, self.admin_secret = seeded["admin"]
        self.agent_key_id, self.agent_secret = seeded["agent"]

    def usage_count(self, key_id: str) -> int:
        with sqlite3.connect(self.path) as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(count), 0) FROM apikeys_keyusage WHERE key_id = ?",
                (key_id.replace("-", ""),),
            ).fetchone()
        return row[0]


class PostgresDb:
    """The test database itself, seeded as ScratchDb seeds a file (committed rows: the test
    needs `django_db(transaction=True)`, which flushes them after)."""

    def __init__(self):
        s = connection.settings_dict
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        self.url = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        seeded = json.loads(run_python(SEED, self.url).strip().splitlines()[-1])
        self.admin_id, self.admin_secret = seeded["admin"]
        self.agent_key_id, self.agent_secret = seeded["agent"]


def seeded_db(tmp_path):
    """A seeded database that a served app can share: on PostgreSQL the test database itself,
    on SQLite a scratch file (the in-memory test database is this process's alone)."""
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return PostgresDb()
    return ScratchDb(tmp_path / "scratch.sqlite3")


@pytest.fixture
def scratch_db(tmp_path):
    """A migrated SQLite file with tenant acme-corp, a full-admin key and an agent key."""
    return ScratchDb(tmp_path / "scratch.sqlite3")
