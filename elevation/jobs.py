"""Elevation jobs for `runworker` (portal.scheduler): pending requests lapse after 24 hours."""

from elevation import services


def jobs():
    from portal.scheduler import Job  # the worker's scheduler (runworker restructure)

    return [Job("elevation.expire_requests", every=60, run=services.expire_pending)]
