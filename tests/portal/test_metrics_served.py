"""/metrics and /readyz under gunicorn with two workers (SPEC §13): each worker counts in its own
files and a scrape, whichever worker answers it, sums them all, those of workers that have
exited included. `--max-requests 3` makes the workers restart every few requests, so the
verifications below are answered by many processes, deterministically. Logged as JSON, every
line of the server (gunicorn's own too) is one JSON object."""

import json
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.perf.conftest import seeded_db
from tests.served import gunicorn, request

# On PostgreSQL the server writes to the test database itself: committed rows, flushed after.
pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "served-metrics-token-" + "s" * 20
REDIS = "redis://127.0.0.1:6379/10"
VERIFICATIONS = 12


def scrape(base) -> dict:
    response = request(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200, response
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.body.decode())
        for s in family.samples
    }


def test_counters_add_up_across_workers_and_readyz_answers(tmp_path):
    db = seeded_db(tmp_path)
    log_path = tmp_path / "gunicorn.log"
    env = {
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "CACHE_URL": REDIS,
        "USAGE_REDIS_PREFIX": f"tessera-test:{uuid.uuid4().hex}",
        "GUNICORN_CMD_ARGS": "--max-requests 3",
    }
    admin = {"Authorization": f"Bearer {db.admin_secret}"}
    valid = ("tessera_key_verifications_total", frozenset({("code", "VALID")}))
    with gunicorn(db.url, workers=2, threads=1, log_path=log_path, **env) as base:
        for _ in range(VERIFICATIONS):
            answer = request(
                base + "/t/acme-corp/api/v1/keys/verify",
                method="POST",
                body={"key": db.agent_secret},
                headers=admin,
            )
            assert answer.status == 200 and answer.json()["code"] == "VALID", answer
        for _ in range(3):  # whichever worker answers, the same sum
            assert scrape(base)[valid] == VERIFICATIONS
        ready = request(base + "/readyz")
        assert ready.status == 200, ready
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
        assert request(base + "/metrics").status == 404

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    verified = [
        e for e in lines if e.get("logger") == "tessera.request" and e["route"] == "api:keys-verify"
    ]
    assert len(verified) == VERIFICATIONS
    assert len({e["pid"] for e in verified}) >= 3  # answered by several processes
    assert all(e["credentialPrefix"] and e["tenant"] == "acme-corp" for e in verified)
    assert any(e.get("logger") == "gunicorn.error" for e in lines)
    assert db.agent_secret[20:] not in log_path.read_text()
