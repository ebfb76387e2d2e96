"""Members: adding, re-roling and removing them. Membership changes lock the tenant row first,
so two owners demoting each other at the same moment cannot leave a tenant without an owner."""

from dataclasses import dataclass

from django.db import transaction

from audit.services import record
from portal.errors import Conflict, NotFound
from tenants.models import Membership, Tenant, User
from tenants.services.users import get_or_create_user, normalise_email, set_password

Role = Membership.Role


@dataclass
class MemberResult:
    membership: Membership
    user_created: bool = False
    # Only when this call generated it: show it once, never store or log it.
    password: str | None = None
    changed: bool = True


def lock_tenant(tenant: Tenant) -> None:
    """Serialise membership changes of one tenant (the last-owner rule depends on it)."""
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()


def _member_meta(membership: Membership, **extra) -> dict:
    return {"email": membership.user.email, "role": membership.role, **extra}


def add_member(
    tenant, actor, *, email: str, role: str, name: str = "", password: str | None = None
) -> MemberResult:
    """Add `email` to the tenant with `role`, creating the user when missing.

    A new user gets `password`, or a generated one returned in `MemberResult.password` (to be
    shown once). Adding someone who is already a member is a 409.
    """
    with transaction.atomic():
        lock_tenant(tenant)
        user, created, generated = get_or_create_user(email, name=name, password=password)
        if tenant.memberships.filter(user=user).exists():
            raise Conflict(f"{user.email} is already a member; change their role instead.")
        membership = Membership.objects.create(tenant=tenant, user=user, role=role)
        record(
            tenant,
            actor,
            "member.added",
            target=user,
            metadata=_member_meta(membership, userCreated=created),
        )
    return MemberResult(membership, user_created=created, password=generated)


def _owner_count(tenant) -> int:
    return tenant.memberships.filter(role=Role.OWNER).count()


def _relock(tenant, membership) -> Membership:
    lock_tenant(tenant)
    locked = tenant.memberships.select_related("user").filter(pk=membership.pk).first()
    if locked is None:
        raise NotFound("That member is no longer in this tenant.")
    return locked


def _refuse_last_owner(tenant, membership, doing: str) -> None:
    if membership.role == Role.OWNER and _owner_count(tenant) <= 1:
        raise Conflict(
            f"{membership.user.email} is the last owner of {tenant.name}; {doing} would leave "
            "the tenant without an owner. Make someone else an owner first."
        )


def change_role(tenant, actor, membership, *, role: str) -> MemberResult:
    """Give a member another role. Demoting the last owner is a 409."""
    with transaction.atomic():
        locked = _relock(tenant, membership)
        if locked.role == role:
            return MemberResult(locked, changed=False)
        if role != Role.OWNER:
            _refuse_last_owner(tenant, locked, "demoting them")
        previous = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        record(
            tenant,
            actor,
            "member.role_changed",
            target=locked.user,
            metadata=_member_meta(locked, previousRole=previous),
        )
    return MemberResult(locked)


def remove_member(tenant, actor, membership) -> Membership:
    """Remove a member from the tenant (the user account stays). The last owner is a 409."""
    with transaction.atomic():
        locked = _relock(tenant, membership)
        _refuse_last_owner(tenant, locked, "removing them")
        record(tenant, actor, "member.removed", target=locked.user, metadata=_member_meta(locked))
        locked.delete()
    return locked


def set_member(
    tenant, actor, *, email: str, role: str, password: str | None = None
) -> MemberResult:
    """Add `email` with `role`, or re-role them if already a member (management commands).

    With `password`, an existing user's password is set to it as well.
    """
    with transaction.atomic():
        lock_tenant(tenant)
        user = User.objects.filter(email__iexact=normalise_email(email)).first()
        if user is not None and password is not None:
            set_password(user, password)
        existing = tenant.memberships.select_related("user").filter(user=user).first()
        if existing is None:
            return add_member(tenant, actor, email=email, role=role, password=password)
        return change_role(tenant, actor, existing, role=role)
