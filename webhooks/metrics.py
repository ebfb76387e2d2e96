"""The outbox gauges of `/metrics` (SPEC §13), read from the database at each scrape, so every
app server reports the same numbers whichever worker answers."""

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from portal import outage
from webhooks.models import Delivery


class OutboxCollector:
    """Pending deliveries and the age of the oldest one: one aggregate query per scrape."""

    def __init__(self, clock=timezone.now):
        self.clock = clock

    def collect(self):
        try:
            found = Delivery.objects.filter(status=Delivery.Status.PENDING).aggregate(
                depth=Count("pk"), oldest=Min("created_at")
            )
        except outage.UNAVAILABLE:
            return  # the counters are still worth scraping while the database is away
        oldest = found["oldest"]
        age = (self.clock() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "tessera_webhook_outbox_depth",
            "Webhook deliveries waiting for their first or next attempt.",
            value=found["depth"],
        )
        yield GaugeMetricFamily(
            "tessera_webhook_outbox_oldest_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none is pending).",
            value=max(age, 0.0),
        )
