"""`python manage.py rotatesigningkey`: the staged rotation of the token signing key (SPEC §10).

1. A new RS256 key is published in the JWKS now.
2. It signs tokens only after `--publish-for` seconds (default: the JWKS max-age plus the time
   each process keeps the key set in memory), so every cache has seen it before a token needs it.
3. The keys it replaces sign until then and stay in the JWKS until every token they signed has
   expired; the next rotation deletes them.

Run it from cron (say monthly) or at once after a suspected key compromise (`--publish-for 0`,
then revoke tokens as needed: resource servers that cached the old JWKS still trust the old key
until their cache expires).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from access import signing
from oauth import services

AT = "%Y-%m-%d %H:%M:%S"


class Command(BaseCommand):
    help = "Publish a new token signing key, switch to it after caches saw it, retire the old."

    def add_arguments(self, parser):
        parser.add_argument(
            "--publish-for",
            type=int,
            default=signing.JWKS_MAX_AGE + signing.TTL,
            metavar="SECONDS",
            help="how long the new key is published before it signs "
            "(default %(default)s: the JWKS max-age plus the in-process key cache)",
        )

    def handle(self, *args, publish_for, **options):
        if publish_for < 0:
            raise CommandError("--publish-for must be 0 or more seconds")
        done = services.rotate_signing_key(
            publish_for=publish_for, token_seconds=settings.OAUTH_ACCESS_TOKEN_SECONDS
        )
        key = done.created
        self.stdout.write(f"published {key.kid}; it signs from {key.signs_from:{AT}} UTC")
        for kid, until in done.retiring:
            self.stdout.write(f"retiring {kid}: in the JWKS until {until:{AT}} UTC")
        for kid in done.deleted:
            self.stdout.write(f"deleted {kid} (retired; every token it signed has expired)")
