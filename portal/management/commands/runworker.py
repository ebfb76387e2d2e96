"""`python manage.py runworker`: run every app's scheduled jobs (`<app>/jobs.py`) until SIGTERM.

Several workers may run at once: each job's service is safe to run concurrently (webhook
deliveries are leased, the usage buffer is taken atomically, the others are idempotent).
"""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from portal import scheduler


class Command(BaseCommand):
    help = "Run the scheduled jobs of every app (webhook delivery, usage flush, expiry, ...)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            metavar="JOB",
            help="run only this job, or this app's jobs (repeatable), e.g. webhooks.deliver",
        )
        parser.add_argument(
            "--once",
            "--until-idle",
            action="store_true",
            dest="once",
            help="run each job once (queues until empty), then stop (tests, cron)",
        )
        parser.add_argument(
            "--poll", type=float, default=1.0, help="longest sleep between checks, in seconds"
        )
        parser.add_argument(
            "--list", action="store_true", dest="list_jobs", help="list the jobs and stop"
        )

    def handle(self, *args, only, once, poll, list_jobs, **options):
        try:
            jobs = scheduler.select(scheduler.discover(), only)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if list_jobs:
            for job in jobs:
                self.stdout.write(f"{job.name}\tevery {job.every:g} s")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stderr.write("worker started")
        self.stderr.flush()
        schedule = scheduler.Scheduler(jobs, once=once)
        while not stop.is_set():
            # A job's run is finished before stopping: a claimed batch is not left leased.
            busy = schedule.run_due()
            if busy:
                continue
            if once:
                break
            stop.wait(min(poll, schedule.seconds_to_next()))
        self.stderr.write("worker stopped")
