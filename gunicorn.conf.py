"""gunicorn settings: `gunicorn -c gunicorn.conf.py portal.wsgi:application`."""

import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
# The access log records the path only; keys never travel in URLs.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
graceful_timeout = 30

# Metrics (SPEC §13): every worker writes its counters to files in one directory and /metrics
# sums them, so a scrape counts every worker's requests whichever worker answers it. Set before
# any worker imports prometheus_client; a directory of our own per start when none is given. A
# directory the operator gives may be shared with `runworker` on the same host, so its counters
# show too; it is never emptied here (counters carried over from an earlier run only add up).
_metrics_dir_is_ours = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _metrics_dir_is_ours:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tessera-metrics-")

# LOG_FORMAT=json: gunicorn's own lines are JSON objects too, and the application logs each
# request once (portal.logs), so gunicorn's access log would be a second, text line.
if os.environ.get("LOG_FORMAT", "").lower() == "json":
    accesslog = None
    # gunicorn merges this over its defaults key by key: every key it replaces is whole here.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "portal.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }


def on_exit(server):
    if _metrics_dir_is_ours:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server, worker):
    """A worker's counters stay in the sums after it exits; its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    """Write the uses this worker holds in memory (no Redis) before it goes away (graceful stop
    or reload). Uses handed to Redis are the runworker's to write."""
    from apikeys import usage

    usage.flush(shared=False)
