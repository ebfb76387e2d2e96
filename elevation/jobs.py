"""Elevation jobs for `runworker` (portal.scheduler): pending requests lapse after 24 hours."""

from elevation import services
from portal.scheduler import Job


def jobs():
    return [Job("elevation.expire_requests", every=60, run=services.expire_pending)]
