"""gunicorn settings: `gunicorn -c gunicorn.conf.py portal.wsgi:application`."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
# The access log records the path only; keys never travel in URLs.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
graceful_timeout = 30


def post_worker_init(worker):
    """Write buffered usage counters every USAGE_FLUSH_SECONDS, even while the worker idles."""
    from apikeys import usage

    usage.start_flusher()


def worker_exit(server, worker):
    """Write buffered usage counters before the worker goes away (graceful stop or reload)."""
    from apikeys import usage

    usage.stop_flusher()
    usage.flush()
