"""`python manage.py runworker`: deliver webhooks and run the scheduled jobs until SIGTERM."""

import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from portal.logs import log_job_run
from webhooks import services


class Command(BaseCommand):
    help = "Deliver webhooks and run scheduled jobs (expiry events, dormancy, pruning)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=20)
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
        parser.add_argument("--jobs-every", type=float, default=60.0)
        parser.add_argument("--no-jobs", action="store_true")
        parser.add_argument(
            "--until-idle", action="store_true", help="stop when nothing is due (tests, cron)"
        )

    def handle(self, *args, batch, poll, jobs_every, no_jobs, until_idle, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stderr.write("worker started")
        self.stderr.flush()
        last_jobs = 0.0
        courier = services.Courier()
        try:
            while not stop.is_set():
                if not connection.in_atomic_block:  # (a test calling the command holds one)
                    close_old_connections()  # drop a connection the database closed meanwhile
                if not no_jobs and time.monotonic() - last_jobs >= jobs_every:
                    with log_job_run("scheduled_jobs") as run:
                        run.update(services.run_jobs())
                    last_jobs = time.monotonic()
                claimed = courier.dispatch(limit=batch)
                if not courier.idle:
                    courier.collect(timeout=poll)  # records attempts as they end
                elif not claimed:
                    if until_idle:
                        break
                    stop.wait(poll)
        finally:
            # Attempts under way are finished and recorded; claimed rows not begun are given
            # back: nothing is left leased.
            courier.close()
        self.stderr.write("worker stopped")
