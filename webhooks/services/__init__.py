"""Webhook rules, one module per resource: `subscriptions` (webhooks, secrets, test events,
redeliveries), `delivery` (claims, attempts, retries, the `Courier`), `housekeeping` (outbox
pruning). Callers use this package (`from webhooks import services`); a test that replaces a
function patches it in the module that calls it.

The worker (`manage.py runworker`, through `webhooks/jobs.py`) holds no rules: its delivery
job runs a `Courier` (claims, sends on a few threads, records) and its pruning job `prune`;
tests call them directly with a fake clock (`now`).
"""

from .delivery import (
    DISABLE_AFTER,
    JITTER,
    RETRY_SCHEDULE,
    Courier,
    claim_due,
    deliver_due,
    disable_webhook,
    hold,
    lease_seconds,
    payload_of,
    prepare,
    record_attempt,
    release,
    retry_delay,
    send,
    system_actor,
)
from .housekeeping import PRUNE_AFTER, prune
from .subscriptions import (
    DEFAULT_GRACE,
    create_webhook,
    delete_webhook,
    redeliver,
    rotate_secret,
    send_test,
    signing_secrets,
    update_webhook,
)

__all__ = [
    "DEFAULT_GRACE",
    "DISABLE_AFTER",
    "JITTER",
    "PRUNE_AFTER",
    "RETRY_SCHEDULE",
    "Courier",
    "claim_due",
    "create_webhook",
    "delete_webhook",
    "deliver_due",
    "disable_webhook",
    "hold",
    "lease_seconds",
    "payload_of",
    "prepare",
    "prune",
    "record_attempt",
    "redeliver",
    "release",
    "retry_delay",
    "rotate_secret",
    "send",
    "send_test",
    "signing_secrets",
    "system_actor",
    "update_webhook",
]
