"""Tenants: creating one, and its sign-in policy."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction

from audit.services import record
from portal.errors import Conflict, Forbidden, Invalid
from portal.validation import clean_name
from tenants.models import TENANT_SLUG_RE, Membership, Tenant
from tenants.services.signin import signed_in_with_sso

Role = Membership.Role


def _check_slug(slug: str) -> None:
    try:
        RegexValidator(TENANT_SLUG_RE)(slug)
    except ValidationError:
        raise Invalid(
            {"slug": ["1–50 lowercase letters, digits and hyphens, not starting or ending with -."]}
        ) from None


def create_tenant(*, slug: str, name: str) -> tuple[Tenant, bool]:
    """Create the tenant `slug`, or return the existing one. Returns (tenant, created)."""
    _check_slug(slug)
    try:
        name = clean_name(name or slug)
    except ValidationError as exc:
        raise Invalid({"name": exc.messages}) from None
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is not None:
        return tenant, False
    try:
        with transaction.atomic():
            return Tenant.objects.create(slug=slug, name=name), True
    except IntegrityError:  # created by a concurrent call a moment ago
        return Tenant.objects.get(slug=slug), False


def update_signin_policy(request, tenant, actor, *, require_mfa=None, sso_only=None) -> Tenant:
    """Owners set `requireMfa` and `ssoOnly` (None leaves one as it is), signed in: a key
    cannot (an admin could mint a full-admin key). Turning `ssoOnly` on needs a session that
    signed in with SSO, so the owner who sets it is not locked out."""
    membership = actor.membership
    if actor.key is not None or membership is None or not membership.allows(Role.OWNER):
        raise Forbidden("Only an owner, signed in to the portal, may change the sign-in policy.")
    if sso_only and not tenant.sso_only and not signed_in_with_sso(request):
        raise Conflict(
            "Sign in with single sign-on first: only an owner signed in with SSO may make "
            f"{tenant.name} SSO-only, so that no one is locked out."
        )
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changed = {}
        if require_mfa is not None and require_mfa != locked.require_mfa:
            locked.require_mfa = changed["requireMfa"] = require_mfa
        if sso_only is not None and sso_only != locked.sso_only:
            locked.sso_only = changed["ssoOnly"] = sso_only
        if changed:
            locked.save(update_fields=["require_mfa", "sso_only"])
            record(
                tenant,
                actor,
                "settings.updated",
                target=("tenant", str(tenant.pk), tenant.slug),
                metadata=changed,
            )
    tenant.require_mfa, tenant.sso_only = locked.require_mfa, locked.sso_only
    return tenant
