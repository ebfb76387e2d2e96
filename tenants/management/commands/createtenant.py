from django.core.management.base import BaseCommand

from tenants import services
from tenants.management.commands._common import (
    LOGIN_URL,
    command_errors,
    operator,
    report_member,
)
from tenants.models import Membership


class Command(BaseCommand):
    help = (
        "Create a tenant and its owner (the user is created when missing; without --password "
        "a generated one is printed). Running it again for an existing tenant only makes sure "
        "the owner is an owner."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="e.g. acme-corp (lowercase letters, digits, hyphens)")
        parser.add_argument("--name", required=True, help='display name, e.g. "Acme Corp"')
        parser.add_argument("--owner", required=True, help="email of the first owner")
        parser.add_argument("--password", help="owner's password (a new user only gets one)")

    def handle(self, *args, slug, name, owner, password=None, **options):
        with command_errors():
            tenant, created = services.create_tenant(slug=slug, name=name)
            if created:
                self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}).")
            else:
                self.stdout.write(f"Tenant {tenant.slug} ({tenant.name}) already exists.")
            result = services.set_member(
                tenant,
                operator("createtenant"),
                email=owner,
                role=Membership.Role.OWNER,
                password=password,
            )
        report_member(self, result, tenant)
        if password and not result.user_created:
            self.stdout.write(f"Password of {result.membership.user.email} set.")
        self.stdout.write(f"Log in at {LOGIN_URL}")
