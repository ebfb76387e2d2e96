"""Schemathesis against the app as deployed (gunicorn, DEBUG off), every check on (issue 10):
no 500, no response that breaks the OpenAPI document, no accepted request that it forbids, no
405 whose `Allow` disagrees with it. Configuration and allowances: tests/contract/schemathesis.toml;
credentials: tests/contract/schemathesis_hooks.py.

Three runs, because schemathesis sends every operation to one base URL (it ignores the
per-path `servers` of the document): the tenant API with a full-admin key, the agent runtime and
OAuth endpoints with an agent's key (and its client credentials), and the root paths
(`/api/v1/...`, no tenant, no credential). A fixed seed keeps CI reproducible; run it by hand
with another (README, "Automation")."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.openapi import document
from tests.perf.conftest import seeded_db
from tests.served import gunicorn

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261129"
MAX_EXAMPLES = "15"
# Each run is bounded; all three together stay within a few minutes on a loaded 2-core machine.
RUN_TIMEOUT = 150


def _own_server_paths() -> list[str]:
    """The document's paths that set their own `servers` (outside /t/{tenant}/api/v1)."""
    return [name for name, item in document()["paths"].items() if "servers" in item]


def _runs():
    rooted = _own_server_paths()
    exclude_rooted = [arg for p in rooted for arg in ("--exclude-path", p)]
    agent = r"^/(agents/me|oauth/(token|refresh|revoke|introspect))"
    return {
        "tenant-admin-api": (
            "/t/acme-corp/api/v1",
            "admin",
            [*exclude_rooted, "--exclude-path-regex", r"^/agents/me"],
        ),
        "agent-runtime-and-oauth": (
            "/t/acme-corp/api/v1",
            "agent",
            ["--include-path-regex", agent],
        ),
        "root-paths": ("/api/v1", "admin", [arg for p in rooted for arg in ("--include-path", p)]),
    }


@pytest.fixture
def served(tmp_path):
    db = seeded_db(tmp_path)
    with gunicorn(db.url, threads=4, log_path=tmp_path / "gunicorn.log") as base:
        yield base, db


@pytest.mark.parametrize("run", list(_runs()))
def test_schemathesis_finds_nothing(served, run, tmp_path):
    base, db = served
    prefix, credential, selection = _runs()[run]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": db.url,
        "PYTHONPATH": str(ROOT),
        "TESSERA_ST_CREDENTIAL": credential,
    }
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/api/v1/openapi.json",
        "--url",
        base + prefix,
        "--checks",
        "all",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--no-color",
        *selection,
    ]
    started = time.monotonic()
    try:
        out = subprocess.run(
            command,
            cwd=tmp_path,  # its .schemathesis/ cache and reports stay out of the repository
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"schemathesis ran past {RUN_TIMEOUT} s:\n{exc.stdout or ''}{exc.stderr or ''}")
    output = out.stdout + out.stderr
    print(f"schemathesis {run}: exit {out.returncode} in {time.monotonic() - started:.1f} s")
    assert out.returncode == 0, output
    # It tested something: a selection that matched no operation would pass vacuously.
    tested = re.search(r"Tested:\s+(\d+)", output)
    assert tested and int(tested.group(1)) > 0, output
