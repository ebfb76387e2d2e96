"""Agent jobs for `runworker` (portal.scheduler)."""

from agents import housekeeping
from portal.scheduler import Job


def jobs() -> list[Job]:
    return [Job("agents.expiry_notices", every=60, run=housekeeping.expiry_notices)]
