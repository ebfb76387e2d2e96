"""Tenants, members and logins: every rule and every write.

Each service is one transaction that records its audit events inside it. Membership changes
lock the tenant row first, so two owners demoting each other at the same moment cannot leave a
tenant without an owner. Login attempts are throttled per email in Django's cache (shared
across processes when `CACHE_URL` points at Redis).
"""

import hashlib
import math
import secrets
import time
from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, validate_email
from django.db import IntegrityError, transaction

from access.actor import Actor
from audit.services import record
from portal import metrics
from portal.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from portal.validation import clean_name
from tenants.models import TENANT_SLUG_RE, Membership, Tenant, User

Role = Membership.Role

# SPEC §7: 10 failures for one email within 15 minutes lock it for 15 minutes.
LOGIN_MAX_FAILURES = 10
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_LOCKOUT_SECONDS = 15 * 60


class LoginThrottled(RateLimited):
    def __init__(self, retry_after: int):
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            "Too many failed login attempts for this email. For your protection, logging in "
            f"with it is blocked for {minutes} more minute{'s' if minutes != 1 else ''}.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def generate_password() -> str:
    """A random password for a new account, to be shown once (about 96 bits)."""
    return secrets.token_urlsafe(12)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


# --- tenants and users --------------------------------------------------------------------


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


@dataclass
class MemberResult:
    membership: Membership
    user_created: bool = False
    # Only when this call generated it: show it once, never store or log it.
    password: str | None = None
    changed: bool = True


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


# --- login and logout ---------------------------------------------------------------------


def _throttle_keys(email: str) -> tuple[str, str]:
    digest = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]
    return f"login:failures:{digest}", f"login:lockout:{digest}"


def lockout_remaining(email: str) -> int:
    """Seconds until `email` may try to log in again (0: not locked)."""
    until = cache.get(_throttle_keys(email)[1])
    if not until:
        return 0
    return max(0, math.ceil(until - time.time()))


def _count_failure(email: str) -> int:
    """Count a failed attempt; returns the lockout in seconds when this one triggers it.

    Failures are counted in a window that starts at the first failure and lasts 15 minutes
    (`cache.add` + `cache.incr`, atomic in local memory and Redis alike).
    """
    failures_key, lockout_key = _throttle_keys(email)
    if cache.add(failures_key, 1, LOGIN_WINDOW_SECONDS):
        count = 1
    else:
        try:
            count = cache.incr(failures_key)
        except ValueError:  # expired between add and incr
            cache.add(failures_key, 1, LOGIN_WINDOW_SECONDS)
            count = 1
    if count < LOGIN_MAX_FAILURES:
        return 0
    cache.set(lockout_key, time.time() + LOGIN_LOCKOUT_SECONDS, LOGIN_LOCKOUT_SECONDS)
    cache.delete(failures_key)
    return LOGIN_LOCKOUT_SECONDS


def _record_in_every_tenant(user, actor, action: str, metadata=None) -> None:
    with transaction.atomic():
        # In one order for every user: each record() holds its tenant's audit chain till commit.
        for membership in user.memberships.select_related("tenant").order_by("tenant_id"):
            record(membership.tenant, actor, action, target=user, metadata=metadata or {})


def refuse_if_locked(request, email: str) -> None:
    """Raise LoginThrottled (audited as a failed login) while `email` is locked out.

    Checked before the password, so the right password does not help a locked email.
    """
    remaining = lockout_remaining(email)
    if remaining:
        metrics.AUTHENTICATIONS.labels("session", "rate_limited").inc()
        _audit_failure(request, email, "throttled")
        raise LoginThrottled(remaining)


def login_failed(request, email: str) -> None:
    """Count and audit a failed password check; raise LoginThrottled when it locks the email.

    Audited in every tenant of the user the email belongs to (nothing for unknown emails); the
    attempted password never goes anywhere.
    """
    metrics.AUTHENTICATIONS.labels("session", "rejected").inc()
    lockout = _count_failure(email)
    claimed = _claimed_user(email)
    inactive = claimed is not None and not claimed.is_active
    _audit_failure(request, email, "inactive_user" if inactive else "invalid_credentials")
    if lockout:
        raise LoginThrottled(lockout)


def logged_in(request, user) -> None:
    """A completed sign-in (password, second factor, passkey or SSO): reset the failure count and
    audit it in every tenant of the user."""
    metrics.AUTHENTICATIONS.labels("session", "success").inc()
    cache.delete(_throttle_keys(user.email)[0])
    _record_in_every_tenant(user, Actor.for_user(user, request), "user.login")


def _claimed_user(email: str):
    email = normalise_email(email)
    return User.objects.filter(email__iexact=email).first() if email else None


def _audit_failure(request, email: str, reason: str) -> None:
    claimed = _claimed_user(email)
    if claimed is not None:
        _record_in_every_tenant(
            claimed,
            Actor.for_user(claimed, request),
            "user.login_failed",
            {"email": claimed.email, "reason": reason},
        )


def log_out(request, user) -> None:
    """Audit a logout in every tenant of the user (the view ends the session)."""
    _record_in_every_tenant(user, Actor.for_user(user, request), "user.logout")


def mfa_changed(request, user, action: str, kind: str) -> None:
    """Audit a second factor added or removed (`user.mfa_enabled` / `user.mfa_disabled`) in every
    tenant of the user: its type only, never a secret, code or credential."""
    _record_in_every_tenant(user, Actor.for_user(user, request), action, {"type": kind})


# --- sign-in policy -------------------------------------------------------------------------


def update_signin_policy(request, tenant, actor, *, require_mfa=None, sso_only=None) -> Tenant:
    """Owners set `requireMfa` and `ssoOnly` (None leaves one as it is), signed in: a key
    cannot (an admin could mint a full-admin key). Turning `ssoOnly` on needs a session that
    signed in with SSO, so the owner who sets it is not locked out."""
    from tenants.auth import signed_in_with_sso

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


def end_session(request, user, session_id: int) -> bool:
    """End one of `user`'s sessions other than this request's; False when there is none such."""
    from allauth.usersessions.models import UserSession

    session = (
        UserSession.objects.filter(user=user, pk=session_id)
        .exclude(session_key=request.session.session_key)
        .first()
    )
    if session is None:
        return False
    session.end()
    return True
