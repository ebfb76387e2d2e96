"""`python manage.py mintkey <slug> --name <name> [--scope S]... [--expires-in SECONDS]`.

Mints an admin key and prints the key alone on stdout, so `KEY=$(python manage.py mintkey ...)`
works; everything else (errors included) goes to stderr. Audited like any mint, as the operator's
shell (`manage.py mintkey`).
"""

from django.core.management.base import BaseCommand, CommandError

from access.actor import Actor
from apikeys import services
from apikeys.forms import MintKeyForm
from portal.errors import ApiError
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Mint an admin API key for a tenant and print it (alone) on stdout."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the tenant's slug, e.g. acme-corp")
        parser.add_argument("--name", required=True, help="a name for the key, e.g. ci")
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            help=f"limit the key to a scope (repeatable; none = full admin): "
            f"{', '.join(services.ADMIN_SCOPES)}",
        )
        parser.add_argument(
            "--expires-in", type=int, default=None, help="lifetime in seconds (default: never)"
        )

    def handle(self, *args, slug, name, scopes, expires_in, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug '{slug}'.")
        body = {"name": name, "scopes": scopes, "expiresIn": expires_in}
        try:
            data = MintKeyForm({k: v for k, v in body.items() if v is not None}).validate()
            _, secret = services.mint_key(
                tenant,
                Actor.system("manage.py mintkey"),
                name=data["name"],
                scopes=data["scopes"] or [],
                expires_at=data["expires_at"],
            )
        except ApiError as exc:
            problems = "; ".join(
                f"{'--' + _OPTION.get(field, field)}: {' '.join(msgs)}"
                for field, msgs in (exc.details or {}).items()
            )
            raise CommandError(problems or exc.message) from None
        self.stdout.write(secret)


_OPTION = {"name": "name", "scopes": "scope", "expiresIn": "expires-in"}
