from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"

    def ready(self):
        from access import events
        from apikeys import usage

        # Every door reports its uses and rejections (`access.events`); the buffer counts them.
        events.key_used.connect(usage.on_key_used, dispatch_uid="tessera-key-used")
        events.key_rejected.connect(usage.on_key_rejected, dispatch_uid="tessera-key-rejected")
        events.shared_use = usage.shared_use
