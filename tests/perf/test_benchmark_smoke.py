"""The benchmark's code, run tiny (a few keys, a few requests), so it cannot rot unnoticed."""

import json
import subprocess
import sys

import pytest
from django.test import Client

from apikeys.models import ApiKey
from benchmarks import inprocess, seed
from tests.perf.conftest import ROOT


@pytest.mark.django_db
@pytest.mark.urls("benchmarks.urls")
def test_seeding_and_in_process_scenarios_answer_as_expected():
    keys = seed.seed_scenarios()
    seed.add_filler(25, batch=10)
    assert ApiKey.objects.filter(tenant__slug=seed.FILLER_TENANT).count() == 25
    filler = ApiKey.objects.filter(tenant__slug=seed.FILLER_TENANT).first()
    assert (filler.kind, filler.status, filler.scopes) == ("admin", "active", [])
    names = inprocess.available(keys)  # D1 (the DRF peer) only with benchmarks.settings
    assert "D1" not in names
    queries = inprocess.check(Client(), keys, names)  # raises on any unexpected answer
    assert {name: q["queries"] for name, q in queries.items()} == {
        "bare": 0,
        "V1": 1,
        "V2": 1,
        "V3": 1,
        "V4": 1,
        "V5": 0,
        "V6": 1,
    }
    timings = inprocess.measure(keys, names, rounds=2, per_round=3)
    assert timings["bare"]["ratio"] == 1.0
    assert all(t["us_per_request"] > 0 for t in timings.values())
    assert "function calls" in inprocess.profile(keys, "V1", requests=3)


def test_runner_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "latest.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--db",
            "sqlite",
            "--no-served",
            "--keys",
            "60",
            "--small-keys",
            "40",
            "--rounds",
            "1",
            "--requests",
            "3",
            "--list-keys",
            "30",
            "--events",
            "50",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "V1 valid admin key" in result.stdout
    assert "V1 at 60 keys / V1 at 40 keys" in result.stdout
    data = json.loads(out.read_text())
    sqlite = data["databases"]["sqlite"]
    assert sqlite["large"]["key_count"] == 60
    assert sqlite["small"]["key_count"] == 40
    assert sqlite["large"]["queries"]["V5"]["queries"] == 0
    assert sqlite["large"]["queries"]["V6"]["queries"] == 1
    lists = sqlite["lists"]  # the same query count with 1 key and with 30
    assert lists["page"]["1"] == lists["page"]["30"] and lists["api"]["1"] == lists["api"]["30"]
    export = sqlite["export"]
    assert (export["status"], export["events"]) == (200, 50)
    assert export["peak_rss_mb"] >= export["rss_before_mb"] > 0
    if "D1" in sqlite["large"]["timings"]:  # the [bench] extra is installed (scripts/bench)
        assert sqlite["large"]["queries"]["D1"]["queries"] == 1
    assert data["machine"]["cores"] >= 1
