"""Webhook jobs for `runworker` (portal.scheduler): deliver what is due, prune the outbox."""

from django.conf import settings

from portal.scheduler import Job
from webhooks import services


class Deliveries:
    """The delivery job: one `Courier` for the worker's life, so attempts to different endpoints
    run side by side across runs. Each run starts what is due and records what has ended (waiting
    up to a second for one); it reports work while attempts are under way or rows were claimed."""

    def __init__(self):
        self.courier = None

    def __call__(self) -> int:
        if self.courier is None:
            self.courier = services.Courier()
        claimed = self.courier.dispatch(limit=settings.WEBHOOK_DELIVERY_BATCH)
        if not self.courier.idle:
            ended = self.courier.collect(timeout=1.0)
            return claimed + ended or 1  # under way: run again at once
        return claimed

    def close(self) -> None:
        if self.courier is not None:
            self.courier.close()


def jobs() -> list[Job]:
    deliveries = Deliveries()
    return [
        Job("webhooks.deliver", every=1, run=deliveries, drain=True, close=deliveries.close),
        Job("webhooks.prune_outbox", every=3600, run=services.prune),
    ]
