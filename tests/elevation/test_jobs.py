"""The worker's jobs of this issue (run by `runworker` once portal.scheduler exists)."""

import pytest


@pytest.mark.parametrize(
    ("module", "name", "run"),
    [
        ("elevation", "elevation.expire_requests", "expire_pending"),
        ("idempotency", "idempotency.prune_keys", "prune_idempotency_keys"),
    ],
)
def test_jobs_are_declared_for_the_worker(module, name, run):
    pytest.importorskip("portal.scheduler")
    jobs = __import__(f"{module}.jobs", fromlist=["jobs"]).jobs()
    services = __import__(f"{module}.services", fromlist=[run])
    assert [(j.name, j.run) for j in jobs] == [(name, getattr(services, run))]
