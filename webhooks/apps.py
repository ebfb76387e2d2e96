from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self):
        from audit.services import event_recorded
        from webhooks import outbox

        # Every audit event becomes a delivery row per subscriber, in the same transaction.
        event_recorded.connect(outbox.on_event_recorded, dispatch_uid="tessera-webhook-outbox")
