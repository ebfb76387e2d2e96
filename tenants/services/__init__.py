"""Tenants, members and logins: every rule and every write, one module per resource:
`tenants` (creating one, its sign-in policy), `users` (accounts, passwords), `members`
(adding, re-roling, removing; the last-owner rule) and `signin` (the login throttle, the audit
of sign-ins, sessions). Callers use this package (`from tenants import services`); a test that
replaces a function patches it in the module that calls it.

Each service is one transaction that records its audit events inside it.
"""

from .members import (
    MemberResult,
    add_member,
    change_role,
    lock_tenant,
    remove_member,
    set_member,
)
from .signin import (
    LOGIN_LOCKOUT_SECONDS,
    LOGIN_MAX_FAILURES,
    LOGIN_WINDOW_SECONDS,
    LoginThrottled,
    end_session,
    lockout_remaining,
    log_out,
    logged_in,
    login_failed,
    mfa_changed,
    refuse_if_locked,
    signed_in_with_sso,
)
from .tenants import create_tenant, update_signin_policy
from .users import generate_password, get_or_create_user, normalise_email, set_password

__all__ = [
    "LOGIN_LOCKOUT_SECONDS",
    "LOGIN_MAX_FAILURES",
    "LOGIN_WINDOW_SECONDS",
    "LoginThrottled",
    "MemberResult",
    "add_member",
    "change_role",
    "create_tenant",
    "end_session",
    "generate_password",
    "get_or_create_user",
    "lock_tenant",
    "lockout_remaining",
    "log_out",
    "logged_in",
    "login_failed",
    "mfa_changed",
    "normalise_email",
    "refuse_if_locked",
    "remove_member",
    "set_member",
    "set_password",
    "update_signin_policy",
    "signed_in_with_sso",
]
