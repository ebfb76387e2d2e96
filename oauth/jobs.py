"""OAuth jobs for `runworker` (portal.scheduler): expired token rows do not pile up."""

from oauth import services
from portal.scheduler import Job


def jobs() -> list[Job]:
    return [Job("oauth.prune_tokens", every=3600, run=services.prune_tokens)]
