"""Idempotency jobs for `runworker` (portal.scheduler): keys are kept 24 hours."""

from idempotency import services


def jobs():
    from portal.scheduler import Job  # the worker's scheduler (runworker restructure)

    return [Job("idempotency.prune_keys", every=3600, run=services.prune_idempotency_keys)]
