from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        from audit.services import event_recorded
        from portal import metrics
        from webhooks import outbox
        from webhooks.metrics import OutboxCollector

        # Every audit event becomes a delivery row per subscriber, in the same transaction.
        event_recorded.connect(outbox.on_event_recorded, dispatch_uid="tessera-webhook-outbox")
        metrics.add_scrape_collector(OutboxCollector())
