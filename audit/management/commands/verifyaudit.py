"""`python manage.py verifyaudit [tenant]`: recompute the audit chain of one tenant (or of every
tenant) and print one JSON line per tenant, the endpoint's answer plus the tenant's slug.
Exit status 1 when a chain is broken, so a cron job or a CI step can alert on it."""

import json

from django.core.management.base import BaseCommand, CommandError

from audit import chain
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Verify the tamper-evident audit chain of a tenant (or of all tenants)."

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?", help="the tenant's slug (default: every tenant)")

    def handle(self, *args, slug=None, **options):
        tenants = Tenant.objects.order_by("slug")
        if slug is not None:
            tenants = tenants.filter(slug=slug)
            if not tenants.exists():
                raise CommandError(f"No tenant with slug '{slug}'.")
        broken = []
        for tenant in tenants.iterator():
            verdict = chain.verify(tenant)
            self.stdout.write(json.dumps({"tenant": tenant.slug, **verdict.as_json()}))
            if not verdict.ok:
                broken.append(tenant.slug)
        if broken:
            raise CommandError(f"Audit chain broken: {', '.join(broken)}.", returncode=1)
