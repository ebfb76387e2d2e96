"""`python manage.py flushusage`: write the buffered usage counters now: those in Redis (what
`runworker` writes every USAGE_FLUSH_SECONDS) and this process's own.

For deployments without a worker, and for scripts that used keys in-process (a benchmark).
"""

from django.core.management.base import BaseCommand

from apikeys import usage


class Command(BaseCommand):
    help = "Write buffered API key usage counters (counts per day, lastUsedAt) to the database."

    def handle(self, *args, **options):
        written = usage.flush()
        self.stdout.write(f"wrote {written} buffered use(s)")
