from django.apps import AppConfig
from django.conf import settings
from django.core.signals import request_started


class ApikeysConfig(AppConfig):
    name = "apikeys"

    def ready(self):
        # Every server, not only gunicorn (whose post_worker_init starts it too): under runserver
        # the buffered usage would otherwise wait for a later request to be written.
        if settings.USAGE_FLUSH_THREAD:
            request_started.connect(_start_flusher, dispatch_uid="tessera-usage-flusher")


def _start_flusher(**kwargs):
    from apikeys import usage

    usage.ensure_flusher()
