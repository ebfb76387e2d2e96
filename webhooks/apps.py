from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        from portal import metrics
        from webhooks.metrics import OutboxCollector

        metrics.add_scrape_collector(OutboxCollector())
