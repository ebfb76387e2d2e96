from django.core.management.base import BaseCommand

from tenants import demo, services
from tenants.management.commands._common import LOGIN_URL, command_errors, operator
from tenants.models import Membership, User

DEMO_SLUG = "acme-corp"
DEMO_NAME = "Acme Corp"
DEMO_OWNER = "owner@acme.test"


class Command(BaseCommand):
    help = (
        "Make sure the demo tenant acme-corp and its owner owner@acme.test exist and print the "
        "login. The owner's password is made and printed once, when the owner is created; later "
        "runs keep it (so sessions and a password changed in the portal survive a restart) "
        "unless --reset-password is given. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=LOGIN_URL, help="the login URL to print")
        parser.add_argument(
            "--reset-password", action="store_true", help="give the owner a new password"
        )

    def handle(self, *args, **options):
        known = User.objects.filter(email__iexact=DEMO_OWNER).exists()
        password = None if known and not options["reset_password"] else services.generate_password()
        with command_errors():
            tenant, _ = services.create_tenant(slug=DEMO_SLUG, name=DEMO_NAME)
            services.set_member(
                tenant,
                operator("seeddemo"),
                email=DEMO_OWNER,
                role=Membership.Role.OWNER,
                password=password,
            )
            seeded = demo.seed(tenant)
        if seeded:
            self.stdout.write(
                "Seeded an example role, two agents, keys in every state, a grant and 30 days "
                "of usage."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Demo tenant {tenant.slug} ({tenant.name}) is ready. Log in:")
        )
        self.stdout.write(f"  URL:      {options['url']}")
        self.stdout.write(f"  Email:    {DEMO_OWNER}")
        if password:
            self.stdout.write(f"  Password: {password}")
        else:
            self.stdout.write(
                "  Password: the one printed when the demo was first set up, or the one you set "
                "since\n"
                "            (a new one: .venv/bin/python manage.py seeddemo --reset-password)"
            )
        self.stdout.write(
            "An admin API key for curl (in the project folder): "
            f"KEY=$(DEBUG=true .venv/bin/python manage.py mintkey {DEMO_SLUG} --name ci)"
        )
