"""Users: accounts created for members, their passwords, emails in one normal form."""

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from portal.errors import Invalid
from tenants.models import User


def generate_password() -> str:
    """A random password for a new account, to be shown once (about 96 bits)."""
    return secrets.token_urlsafe(12)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _check_password(password: str, user=None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise Invalid({"password": exc.messages}) from None


def set_password(user: User, password: str) -> None:
    _check_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])


def get_or_create_user(email: str, *, name: str = "", password: str | None = None):
    """(user, created, generated_password). Call inside a transaction."""
    email = normalise_email(email)
    try:
        validate_email(email)
    except ValidationError:
        raise Invalid({"email": ["Enter a valid email address."]}) from None
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user, False, None
    generated = None
    if password is None:
        password = generated = generate_password()
    else:
        _check_password(password)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, password, name=(name or "")[:100])
    except IntegrityError:
        # Created by a concurrent request a moment ago.
        return User.objects.get(email__iexact=email), False, None
    return user, True, generated
