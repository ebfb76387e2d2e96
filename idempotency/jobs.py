"""Idempotency jobs for `runworker` (portal.scheduler): keys are kept 24 hours."""

from idempotency import services
from portal.scheduler import Job


def jobs():
    return [Job("idempotency.prune_keys", every=3600, run=services.prune_idempotency_keys)]
