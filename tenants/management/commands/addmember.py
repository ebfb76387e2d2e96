from django.core.management.base import BaseCommand, CommandError

from tenants import services
from tenants.management.commands._common import command_errors, operator, report_member
from tenants.models import Membership, Tenant


class Command(BaseCommand):
    help = (
        "Add a member to a tenant, or change the role of an existing member. A missing user is "
        "created (without --password a generated one is printed); with --password an existing "
        "user's password is set."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Membership.Role.values)
        parser.add_argument("--password")

    def handle(self, *args, slug, email, role, password=None, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant '{slug}'. Create it with createtenant first.")
        with command_errors():
            result = services.set_member(
                tenant, operator("addmember"), email=email, role=role, password=password
            )
        report_member(self, result, tenant)
        if password and not result.user_created:
            self.stdout.write(f"Password of {result.membership.user.email} set.")
