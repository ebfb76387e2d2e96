"""The login page (allauth's), the tenant picker, the tenant overview and the members page."""

import datetime as dt

from allauth.account import views as allauth_views
from allauth.account.adapter import get_adapter as get_account_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from access.decorators import get_or_404, tenant_view
from apikeys.forms import EmptyForm
from apikeys.models import ApiKey
from elevation.views import pending_context
from oauth import services as oauth_services
from portal import outage
from portal.errors import ApiError, Invalid, NotFound
from portal.respond import respond
from portal.validation import validate
from tenants import invitations, services
from tenants.auth import THROTTLED_ATTR
from tenants.forms import ROLE_CHOICES, AcceptInvitationForm, InviteForm, RoleForm
from tenants.models import User

EXPIRY_HORIZON = dt.timedelta(days=14)
RECENT_EVENTS = 10
SOON_ROWS = 20


# --- login and picker ----------------------------------------------------------------


class Login(allauth_views.LoginView):
    """allauth's login at /login; a refused form answers 400, a throttled email 429."""

    def get(self, request, *args, **kwargs):
        # The form's post could only fail while the database is down: say so now (503 page).
        outage.require_database()
        return super().get(request, *args, **kwargs)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        retry_after = getattr(self.request, THROTTLED_ATTR, None)
        response.status_code = 429 if retry_after else 400
        if retry_after:
            response["Retry-After"] = str(retry_after)
        return response


login_view = Login.as_view()


@never_cache
@login_required
def tenant_picker(request):
    """The user's tenants with their role; a user of a single tenant goes straight to it."""
    memberships = list(request.user.memberships.select_related("tenant").order_by("tenant__name"))
    if len(memberships) == 1:
        return redirect("portal:overview", tenant=memberships[0].tenant.slug)
    return render(request, "tenants/tenant_picker.html", {"memberships": memberships})


# --- overview -----------------------------------------------------------------------------


def overview_context(tenant) -> dict:
    """Counts, what expires within 14 days, deprecated keys still in use, recent events.

    A fixed number of queries whatever the tenant's size.
    """
    now = timezone.now()
    horizon = now + EXPIRY_HORIZON
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    keys = tenant.api_keys.select_related("agent")
    key_counts = tenant.api_keys.filter(unexpired).aggregate(
        active=Count("id", filter=Q(status=ApiKey.Status.ACTIVE)),
        deprecated=Count("id", filter=Q(status=ApiKey.Status.DEPRECATED)),
    )
    return {
        "counts": {
            "agents": tenant.agents.count(),
            "active_keys": key_counts["active"],
            "deprecated_keys": key_counts["deprecated"],
            "roles": tenant.roles.count(),
            "members": tenant.memberships.count(),
            "tokens_today": oauth_services.tokens_issued_since(
                tenant, now.replace(hour=0, minute=0, second=0, microsecond=0)
            ),
        },
        "expiring_keys": list(
            keys.exclude(status=ApiKey.Status.REVOKED)
            .filter(expires_at__gt=now, expires_at__lte=horizon)
            .order_by("expires_at", "id")[:SOON_ROWS]
        ),
        "expiring_agents": list(
            tenant.agents.filter(is_active=True, expires_at__gt=now, expires_at__lte=horizon)
            .order_by("expires_at", "id")
            .only("id", "name", "type", "expires_at")[:SOON_ROWS]
        ),
        "deprecated_in_use": list(
            keys.filter(unexpired, status=ApiKey.Status.DEPRECATED)
            .filter(last_used_at__gt=F("deprecated_at"))
            .order_by("-last_used_at", "-id")[:SOON_ROWS]
        ),
        "recent_events": list(tenant.audit_events.order_by("-occurred_at", "-id")[:RECENT_EVENTS]),
        "horizon_days": EXPIRY_HORIZON.days,
        **pending_context(tenant, origin="overview"),
    }


@tenant_view(methods=("GET",))
def overview(request, tenant):
    return respond(request, "tenants/overview.html#overview", lambda: overview_context(tenant))


# --- members ------------------------------------------------------------------------------

MEMBERS_TEMPLATE = "tenants/members.html"


def members_context(request, tenant, **extra) -> dict:
    return {
        "members": list(tenant.memberships.select_related("user").order_by("created_at", "id")),
        "invitations": list(invitations.pending(tenant)),
        "now": timezone.now(),
        "role_choices": ROLE_CHOICES,
        **extra,
    }


def _members_page(request):
    return MEMBERS_TEMPLATE, members_context(request, request.tenant)


def _members_url(tenant) -> str:
    return reverse("portal:members", kwargs={"tenant": tenant.slug})


def _members_done(request, tenant, message: str, *, status: int = 200):
    messages.success(request, message)
    return respond(
        request,
        f"{MEMBERS_TEMPLATE}#members",
        lambda: members_context(request, tenant),
        status=status,
        redirect=_members_url(tenant),
    )


@tenant_view(write_role="owner", page=_members_page)
def members(request, tenant):
    """GET: the members and pending invitations. POST (owners): invite an email with a role."""
    if request.method == "POST":
        data, _ = validate(InviteForm, request)
        invitation = invitations.invite(
            request, tenant, request.actor, email=data["email"], role=data["role"]
        )
        return _members_done(
            request,
            tenant,
            f"An invitation to join as {invitation.get_role_display().lower()} was sent to "
            f"{invitation.email}.",
            status=201,
        )
    return respond(request, f"{MEMBERS_TEMPLATE}#members", lambda: members_context(request, tenant))


def _invitation(request, tenant, invitation_id):
    """A pending invitation of this tenant (another's, or one no longer pending, is a 404)."""
    invitation = get_or_404(invitations.pending(tenant), pk=invitation_id)
    validate(EmptyForm, request)
    return invitation


@tenant_view(write_role="owner", methods=("POST",), page=_members_page)
def invitation_resend(request, tenant, invitation_id):
    """POST .../settings/members/invitations/<id>/resend (owners only): a new link, mailed."""
    invitation = _invitation(request, tenant, invitation_id)
    invitations.resend(request, tenant, request.actor, invitation)
    done = f"The invitation was sent to {invitation.email} again, with a new link."
    return _members_done(request, tenant, done)


@tenant_view(write_role="owner", methods=("POST",), page=_members_page)
def invitation_cancel(request, tenant, invitation_id):
    """POST .../settings/members/invitations/<id>/cancel (owners only)."""
    invitation = _invitation(request, tenant, invitation_id)
    invitations.cancel(tenant, request.actor, invitation)
    return _members_done(request, tenant, f"The invitation of {invitation.email} was cancelled.")


def _member(request, tenant, membership_id, form):
    """The membership (another tenant's is a 404), the posted body, and whether it is the
    caller's own."""
    membership = get_or_404(tenant.memberships.select_related("user"), pk=membership_id)
    data, _ = validate(form, request)
    return membership, data, membership.pk == request.membership.pk


def _member_changed(request, tenant, membership, done, *, left=False):
    """Back to the members page with what was `done`; `left`: to the picker instead."""
    messages.success(request, f"{membership.user.email} {done}.")
    next_url = reverse("tenant-picker") if left else _members_url(tenant)
    return respond(
        request,
        f"{MEMBERS_TEMPLATE}#members",
        lambda: members_context(request, tenant),
        redirect=next_url,
        headers={"HX-Redirect": next_url} if left else None,
    )


@tenant_view(write_role="owner", methods=("POST",), page=_members_page)
def member_role(request, tenant, membership_id):
    """POST .../settings/members/<id>/role (owners only)."""
    membership, data, mine = _member(request, tenant, membership_id, RoleForm)
    result = services.change_role(tenant, request.actor, membership, role=data["role"])
    if mine:
        request.membership = result.membership
    role = result.membership.get_role_display().lower()
    done = f"is now {role}" if result.changed else f"was already {role}"
    return _member_changed(request, tenant, membership, done)


@tenant_view(write_role="owner", methods=("POST",), page=_members_page)
def member_remove(request, tenant, membership_id):
    """POST .../settings/members/<id>/remove (owners only)."""
    membership, _, mine = _member(request, tenant, membership_id, EmptyForm)
    services.remove_member(tenant, request.actor, membership)
    # Removing yourself leaves nothing of this tenant for you to see: back to the picker.
    return _member_changed(
        request, tenant, membership, f"was removed from {tenant.name}", left=mine
    )


# --- accepting an invitation --------------------------------------------------------------

INVITATION_TEMPLATE = "tenants/invitation.html"
INVITATION_SESSION_KEY = "tessera_invitation_token"


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_invitation(request, token):
    """The mail's link: the token moves into the session and out of the address bar, so it is
    not sent on as a Referer nor logged with a later answer (as Django does for a reset)."""
    request.session[INVITATION_SESSION_KEY] = token
    return redirect("invitation-accept")


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "HEAD", "POST"])
def accept_invitation(request):
    """Set a password (or sign in) and join the tenant of the invitation opened last."""
    token = request.session.get(INVITATION_SESSION_KEY, "")
    context = {}
    try:
        invitation = invitations.find(token)
        context.update(
            invitation=invitation,
            has_account=User.objects.filter(email__iexact=invitation.email).exists(),
        )
        if request.method == "POST":
            return _accept(request, token, context)
    except ApiError as exc:
        context.update(error=exc, details=exc.details)
        return render(request, INVITATION_TEMPLATE, context, status=exc.status)
    return render(request, INVITATION_TEMPLATE, context)


def _accept(request, token, context):
    if request.user.is_authenticated:
        joined = invitations.accept(request, token, user=request.user)
    else:
        data, _ = validate(AcceptInvitationForm, request)
        context["name"] = data.get("name") or ""
        if data.get("password1") != data.get("password2"):
            raise Invalid({"password2": ["The two passwords differ."]})
        joined = invitations.accept(
            request, token, password=data.get("password1"), name=context["name"]
        )
        get_account_adapter(request).login(request, joined.membership.user)
    request.session.pop(INVITATION_SESSION_KEY, None)
    tenant = joined.membership.tenant
    messages.success(request, f"Welcome to {tenant.name}: you joined as {joined.membership.role}.")
    return redirect("portal:overview", tenant=tenant.slug)


# --- sessions -----------------------------------------------------------------------------


@login_required
@require_POST
def end_session(request, session_id):
    """End one of the user's other sessions (allauth's page lists them)."""
    if not services.end_session(request, request.user, session_id):
        raise NotFound("That session is not one of your other sessions.")
    messages.success(request, "The session was ended: that device is signed out.")
    return redirect("usersessions_list")
