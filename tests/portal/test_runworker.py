"""`manage.py runworker` schedules the jobs each app declares in its `jobs.py` and knows none
of them; a job that fails is logged and stops neither the worker nor the other jobs."""

import io
import logging

import pytest
from django.core.management import CommandError, call_command

from agents import housekeeping as agent_housekeeping
from apikeys import housekeeping, usage
from elevation import services as elevation_services
from idempotency import services as idempotency_services
from oauth import services as oauth_services
from portal.scheduler import Job, Scheduler
from webhooks import services as webhook_services

pytestmark = pytest.mark.django_db

JOBS = {
    "apikeys.flush_usage": (usage, "flush"),
    "apikeys.dormancy": (housekeeping, "apply_dormancy"),
    "apikeys.expiry_notices": (housekeeping, "expiry_notices"),
    "agents.expiry_notices": (agent_housekeeping, "expiry_notices"),
    "oauth.prune_tokens": (oauth_services, "prune_tokens"),
    "webhooks.prune_outbox": (webhook_services, "prune"),
    "idempotency.prune_keys": (idempotency_services, "prune_idempotency_keys"),
    "elevation.expire_requests": (elevation_services, "expire_pending"),
}


class FakeCourier:
    """Claims one batch, then nothing; records the calls of the delivery job."""

    def __init__(self, calls):
        self.calls, self.idle = calls, True

    def dispatch(self, *, limit):
        self.calls.append("webhooks.deliver")
        return 1 if self.calls.count("webhooks.deliver") == 1 else 0

    def close(self):
        self.calls.append("webhooks.deliver closed")


@pytest.fixture
def ran(monkeypatch):
    """Each job's service replaced by a recorder (webhook delivery: one busy batch, then idle)."""
    calls = []
    for name, (module, attr) in JOBS.items():

        def fake(*args, _name=name, **kwargs):
            calls.append(_name)
            return 0

        monkeypatch.setattr(module, attr, fake)
    monkeypatch.setattr(webhook_services, "Courier", lambda: FakeCourier(calls))
    return calls


ALL = sorted([*JOBS, "webhooks.deliver"])


def test_list_names_the_jobs_of_every_app():
    out = io.StringIO()
    call_command("runworker", "--list", stdout=out)
    names = [line.split("\t")[0] for line in out.getvalue().splitlines()]
    assert sorted(names) == ALL


def test_once_runs_each_apps_jobs_and_drains_the_delivery_queue(ran):
    call_command("runworker", "--once", stderr=io.StringIO())
    assert sorted(set(ran) - {"webhooks.deliver closed"}) == ALL
    assert ran.count("webhooks.deliver") == 2  # again while it had work, not after
    assert all(ran.count(name) == 1 for name in JOBS)
    assert ran[-1] == "webhooks.deliver closed"  # the worker lets it finish what is under way


def test_a_failing_job_is_logged_and_the_others_still_run(ran, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(housekeeping, "apply_dormancy", broken)
    with caplog.at_level(logging.ERROR, logger="tessera.jobs"):
        call_command("runworker", "--once", stderr=io.StringIO())
    assert sorted(set(ran) - {"webhooks.deliver closed"}) == sorted(set(ALL) - {"apikeys.dormancy"})
    assert "job apikeys.dormancy error" in caplog.text
    assert "RuntimeError: boom" in caplog.text


def test_only_selects_a_job_or_an_apps_jobs(ran):
    call_command("runworker", "--once", "--only", "oauth", "--only", "apikeys.dormancy")
    assert sorted(ran) == ["apikeys.dormancy", "oauth.prune_tokens"]
    with pytest.raises(CommandError, match="no such job: nope"):
        call_command("runworker", "--once", "--only", "nope")


def test_each_job_runs_on_its_own_interval():
    now = [0.0]
    runs = []
    jobs = [
        Job("a.fast", every=1, run=lambda: runs.append("fast")),
        Job("a.slow", every=10, run=lambda: runs.append("slow")),
    ]
    schedule = Scheduler(jobs, clock=lambda: now[0])
    for second in range(12):
        now[0] = float(second)
        schedule.run_due()
    assert runs.count("fast") == 12
    assert runs.count("slow") == 2  # at 0 s and at 10 s
    now[0] = 11.5
    assert schedule.seconds_to_next() == 0.5


def test_a_raising_job_runs_again_at_its_next_turn():
    now = [0.0]
    attempts = []

    def flaky():
        attempts.append(now[0])
        raise RuntimeError("down")

    schedule = Scheduler([Job("a.flaky", every=5, run=flaky)], clock=lambda: now[0])
    for second in range(11):
        now[0] = float(second)
        schedule.run_due()
    assert attempts == [0.0, 5.0, 10.0]
