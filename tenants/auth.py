"""django-allauth's hooks into Tessera: the login throttle of SPEC §7 and the audit of sign-ins.

allauth runs the forms and flows; the rules stay in `tenants.services` (one place each): the
email lockout is checked before a password is tried, every failure is counted and audited, and a
completed sign-in (after any second factor) and a logout are audited in every tenant of the user.
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.decorators import reauthentication_required
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.utils import is_mfa_enabled
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse

from portal.errors import Forbidden
from tenants import invitations, services
from tenants.models import User

# Set on the request when the throttle refused it, so the login page answers 429.
THROTTLED_ATTR = "tessera_login_retry_after"


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        # One message for a wrong password and an unknown email alike.
        "email_password_mismatch": "The email or password is not correct.",
    }

    def is_open_for_signup(self, request):
        # People join through an owner's invitation, never on their own.
        return False

    @staticmethod
    def _throttled(request, exc: services.LoginThrottled):
        setattr(request, THROTTLED_ATTR, exc.retry_after)
        return forms.ValidationError(exc.message, code="too_many_login_attempts")

    def pre_authenticate(self, request, **credentials):
        try:
            services.refuse_if_locked(request, credentials.get("email", ""))
        except services.LoginThrottled as exc:
            raise self._throttled(request, exc) from None

    def authentication_failed(self, request, **credentials):
        try:
            services.login_failed(request, credentials.get("email", ""))
        except services.LoginThrottled as exc:
            raise self._throttled(request, exc) from None

    def reauthenticate(self, user, password):
        # By the account's own email: accounts made before allauth have no EmailAddress row.
        from allauth.core import context

        found = self.authenticate(context.request, email=user.email, password=password)
        return found is not None and found.pk == user.pk

    def login(self, request, user):
        super().login(request, user)
        services.logged_in(request, user)

    def logout(self, request):
        if request.user.is_authenticated:
            services.log_out(request, request.user)
        super().logout(request)


def audit_mfa_added(sender, request, user, authenticator, **kwargs):
    services.mfa_changed(request, user, "user.mfa_enabled", authenticator.type)


def audit_mfa_removed(sender, request, user, authenticator, **kwargs):
    services.mfa_changed(request, user, "user.mfa_disabled", authenticator.type)


# --- a tenant's sign-in policy, checked on each of its pages and session API calls ----------

MFA_SETUP_URL = "mfa_index"


def session_refusal(request, tenant) -> str | None:
    """Why this session may not use `tenant` now: "mfa" when the tenant requires a second
    factor the user has not set up, "sso" when it takes SSO sign-ins only; None when it may."""
    if tenant.require_mfa and not is_mfa_enabled(request.user):
        return "mfa"
    if tenant.sso_only and not services.signed_in_with_sso(request):
        return "sso"
    return None


REFUSALS = {
    "mfa": "{tenant} requires two-factor authentication: set up an authenticator app or a "
    "passkey first.",
    "sso": "{tenant} takes single sign-on only: log out, then sign in with your organisation's "
    "provider.",
}


def refusal_message(reason: str, tenant) -> str:
    return REFUSALS[reason].format(tenant=tenant.name)


def session_check(request, tenant, *, page: bool):
    """access.decorators' session check for this app (added in TenantsConfig.ready()): the
    tenant's sign-in policy refuses the session (a page is sent to set up a second factor or to
    sign in again; the API answers 403), and a sensitive portal post asks to confirm access."""
    refusal = session_refusal(request, tenant)
    if refusal and page:
        return refusal_redirect(request, refusal, tenant)
    if refusal:
        raise Forbidden(refusal_message(refusal, tenant))
    if page:
        require_confirmed_access(request)
    return None


def refusal_redirect(request, reason: str, tenant):
    """The page answer: the second-factor setup (coming back here after), or the login page."""
    messages.warning(request, refusal_message(reason, tenant))
    if reason == "mfa":
        return redirect_to_login(request.get_full_path(), reverse(MFA_SETUP_URL))
    return redirect_to_login(request.get_full_path(), reverse("logout"))


# --- confirm access (SPEC §14): a recent password or second-factor check --------------------

# The portal's sensitive form posts, by URL name (namespace "portal"): one route per action, so
# the name says what is done. Keys and sessions on the API are not asked.
CONFIRM_ACCESS = {
    "api-keys",  # mint a key
    "api-key-rotate",
    "agents",  # create an agent (its first key is shown)
    "agent-keys",  # mint an agent key
    "agent-rotate-key",
    "agent-key-rotate",
    "webhooks",  # create a webhook (its secret is shown)
    "webhook-rotate-secret",
    "members",  # invite
    "member-role",
    "member-remove",
    "invitation-resend",
    "invitation-cancel",
    "roles",  # create a role
    "role",  # change a role
    "role-delete",
    "settings",  # tenant settings
}


def _needs_confirmation(request) -> bool:
    match = request.resolver_match
    if request.is_api or request.method != "POST" or match is None or match.namespace != "portal":
        return False
    return match.url_name in CONFIRM_ACCESS


@reauthentication_required
def _confirmed(request):
    return None


def require_confirmed_access(request) -> None:
    """Called by tenant_view once the member may act: a sensitive portal post without a check
    in the last ACCOUNT_REAUTHENTICATION_TIMEOUT seconds raises allauth's
    ReauthenticationRequired. allauth's middleware then keeps the post, asks for the password
    (or a second factor) and replays the post, so the action completes and the form is kept."""
    if _needs_confirmation(request):
        _confirmed(request)


# --- single sign-on (allauth.socialaccount's OpenID Connect) --------------------------------


def _verified_email(sociallogin) -> str | None:
    """The email the provider asserted as verified (`email_verified`), else None."""
    email = (sociallogin.user.email or "").strip().lower()
    for address in sociallogin.email_addresses:
        if address.email.lower() == email and address.verified:
            return email
    return None


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """A first SSO sign-in joins an existing account only when the provider asserts
    `email_verified`; a new account only for an email with a pending invitation."""

    def is_open_for_signup(self, request, sociallogin):
        email = _verified_email(sociallogin)
        return bool(email) and invitations.has_pending(email)

    def pre_social_login(self, request, sociallogin):
        if sociallogin.is_existing:
            return
        email = (sociallogin.user.email or "").strip().lower()
        provider = sociallogin.provider.name
        if not email:
            message = f"{provider} did not tell Tessera your email address, so you cannot sign in."
        elif _verified_email(sociallogin) is None:
            message = (
                f"{provider} does not confirm that {email} is yours (it did not assert "
                "email_verified), so it cannot be used to sign in to Tessera. Sign in with your "
                "password, or ask your provider's administrator to verify the address."
            )
        elif User.objects.filter(email__iexact=email).exists() or invitations.has_pending(email):
            return
        else:
            message = (
                f"No Tessera account uses {email}. Ask an owner of your organisation to invite "
                "you, then open the invitation's link."
            )
        response = render(request, "tenants/sso_refused.html", {"message": message}, status=403)
        raise ImmediateHttpResponse(response)
