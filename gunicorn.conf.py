"""gunicorn settings: `gunicorn -c gunicorn.conf.py portal.wsgi:application`."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
# The access log records the path only; keys never travel in URLs.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
graceful_timeout = 30


def worker_exit(server, worker):
    """Write the uses this worker holds in memory (no Redis) before it goes away (graceful stop
    or reload). Uses handed to Redis are the runworker's to write."""
    from apikeys import usage

    usage.flush(shared=False)
