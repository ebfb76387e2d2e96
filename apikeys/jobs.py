"""API key jobs for `runworker` (portal.scheduler): write the uses that web processes handed to
Redis, apply each tenant's dormancy policy, send expiry notices."""

from django.conf import settings

from apikeys import housekeeping, usage
from portal.scheduler import Job


def jobs() -> list[Job]:
    return [
        Job("apikeys.flush_usage", every=settings.USAGE_FLUSH_SECONDS, run=usage.flush),
        Job("apikeys.dormancy", every=300, run=housekeeping.apply_dormancy),
        Job("apikeys.expiry_notices", every=60, run=housekeeping.expiry_notices),
    ]
