"""`python manage.py flushusage`: write this process's buffered usage counters now.

Served workers flush on their own (every USAGE_FLUSH_SECONDS and on graceful exit); this is
for scripts and shells that used keys in-process, e.g. after `manage.py shell` or a benchmark.
"""

from django.core.management.base import BaseCommand

from apikeys import usage


class Command(BaseCommand):
    help = "Write buffered API key usage counters (counts per day, lastUsedAt) to the database."

    def handle(self, *args, **options):
        written = usage.flush()
        self.stdout.write(f"wrote {written} buffered use(s)")
