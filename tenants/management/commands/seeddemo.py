from django.core.management.base import BaseCommand

from tenants import demo, services
from tenants.management.commands._common import LOGIN_URL, command_errors, operator
from tenants.models import Membership

DEMO_SLUG = "acme-corp"
DEMO_NAME = "Acme Corp"
DEMO_OWNER = "owner@acme.test"


class Command(BaseCommand):
    help = (
        "Make sure the demo tenant acme-corp and its owner owner@acme.test exist, give the "
        "owner a fresh password and print the login. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=LOGIN_URL, help="the login URL to print")

    def handle(self, *args, **options):
        password = services.generate_password()
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
        self.stdout.write(f"  Password: {password}")
        self.stdout.write(
            "An admin API key for curl (in the project folder): "
            f"KEY=$(DEBUG=true .venv/bin/python manage.py mintkey {DEMO_SLUG} --name ci)"
        )
