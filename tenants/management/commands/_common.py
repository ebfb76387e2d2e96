"""Shared bits of the tenant management commands: errors as CommandError, the operator actor."""

from contextlib import contextmanager

from django.core.management.base import CommandError

from access.actor import Actor
from portal.errors import ApiError

LOGIN_URL = "http://127.0.0.1:8000/login"


def operator(command: str) -> Actor:
    """Command-line changes are audited as done by the operator's shell."""
    return Actor.system(f"manage.py {command}")


@contextmanager
def command_errors():
    """Turn a service's domain error into a one-line CommandError (exit status 1)."""
    try:
        yield
    except ApiError as exc:
        details = "; ".join(
            f"{field}: {' '.join(msgs)}" for field, msgs in (exc.details or {}).items()
        )
        raise CommandError(f"{exc.message} {details}".strip()) from None


def report_member(command, result, tenant) -> None:
    """Say what happened to the member, and the generated password if there is one."""
    user = result.membership.user
    if result.user_created:
        command.stdout.write(f"Created user {user.email}.")
    if result.password:
        command.stdout.write(f"Password for {user.email}: {result.password}")
        command.stdout.write("  (shown once; they can change it after logging in)")
    role = result.membership.role
    if result.changed:
        command.stdout.write(f"{user.email} is now {role} of {tenant.slug}.")
    else:
        command.stdout.write(f"{user.email} was already {role} of {tenant.slug}.")
