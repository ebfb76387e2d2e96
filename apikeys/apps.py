from django.apps import AppConfig
from django.conf import settings
from django.core.signals import request_started


class ApikeysConfig(AppConfig):
    name = "apikeys"

    def ready(self):
        from access import events
        from apikeys import usage

        # Every door reports its uses and rejections (`access.events`); the buffer counts them.
        events.key_used.connect(usage.on_key_used, dispatch_uid="tessera-key-used")
        events.key_rejected.connect(usage.on_key_rejected, dispatch_uid="tessera-key-rejected")
        # Every server, not only gunicorn (whose post_worker_init starts it too): under runserver
        # the buffered usage would otherwise wait for a later request to be written.
        if settings.USAGE_FLUSH_THREAD:
            request_started.connect(usage.on_request_started, dispatch_uid="tessera-usage-flusher")
