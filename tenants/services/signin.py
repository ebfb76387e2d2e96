"""Sign-in: the login throttle, the audit of logins, logouts and second factors, sessions.

Login attempts are throttled per email in Django's cache (shared across processes when
`CACHE_URL` points at Redis).
"""

import hashlib
import math
import time

from allauth.account.authentication import get_authentication_records
from django.core.cache import cache
from django.db import transaction

from access.actor import Actor
from audit.services import record
from portal import metrics
from portal.errors import RateLimited
from tenants.models import User
from tenants.services.users import normalise_email

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


def signed_in_with_sso(request) -> bool:
    """Did this session sign in through single sign-on (allauth's authentication records)?"""
    records = get_authentication_records(request, request.user)
    return any(r.get("method") == "socialaccount" for r in records)
