"""Login, logout, the tenant picker, the tenant overview and the members page."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordChangeView
from django.db.models import Count, F, Q
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from access.decorators import get_or_404, tenant_view
from apikeys.forms import EmptyForm
from apikeys.models import ApiKey
from elevation.views import pending_context
from oauth import services as oauth_services
from portal import outage
from portal.errors import ApiError
from portal.respond import respond
from portal.validation import validate
from tenants import services
from tenants.forms import ROLE_CHOICES, AddMemberForm, LoginForm, RoleForm

EXPIRY_HORIZON = dt.timedelta(days=14)
RECENT_EVENTS = 10
SOON_ROWS = 20


# --- login, logout, picker ----------------------------------------------------------------


def _safe_next(request, value: str | None) -> str | None:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return None


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request):
    """Email + password login, throttled per email (SPEC §7); honours a safe `next`."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method != "POST":
        outage.require_database()
        if request.user.is_authenticated:
            return HttpResponseRedirect(next_url or reverse("tenant-picker"))
        return render(request, "registration/login.html", {"next": next_url or ""})
    email = request.POST.get("email", "")
    try:
        data, _ = validate(LoginForm, request)
        user = services.log_in(request, data["email"], data["password"])
    except ApiError as exc:
        response = render(
            request,
            "registration/login.html",
            {"next": next_url or "", "email": email, "error": exc, "details": exc.details},
            status=exc.status,
        )
        for name, value in exc.headers.items():
            response[name] = value
        return response
    auth_login(request, user)
    return HttpResponseRedirect(next_url or reverse("tenant-picker"))


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        services.log_out(request, request.user)
        auth_logout(request)
    messages.info(request, "You are logged out.")
    return redirect("login")


@never_cache
@login_required
def tenant_picker(request):
    """The user's tenants with their role; a user of a single tenant goes straight to it."""
    memberships = list(request.user.memberships.select_related("tenant").order_by("tenant__name"))
    if len(memberships) == 1:
        return redirect("portal:overview", tenant=memberships[0].tenant.slug)
    return render(request, "tenants/tenant_picker.html", {"memberships": memberships})


class PasswordChange(PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("tenant-picker")

    def form_valid(self, form):
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


password_change = PasswordChange.as_view()


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
        "role_choices": ROLE_CHOICES,
        **extra,
    }


def _members_page(request):
    return MEMBERS_TEMPLATE, members_context(request, request.tenant)


def _members_url(tenant) -> str:
    return reverse("portal:members", kwargs={"tenant": tenant.slug})


@tenant_view(write_role="owner", page=_members_page)
def members(request, tenant):
    """GET: the members. POST (owners): add a member by email with a role."""
    if request.method == "POST":
        data, _ = validate(AddMemberForm, request)
        result = services.add_member(
            tenant,
            request.actor,
            email=data["email"],
            role=data["role"],
            name=data.get("name") or "",
        )
        # A new account's generated password is shown once, in this response only (so no
        # redirect then); adding an existing account is an ordinary post-redirect-get.
        created = result.password is not None
        if not created:
            messages.success(
                request,
                f"{result.membership.user.email} was added as {result.membership.role}. "
                "They log in with their existing password.",
            )
        return respond(
            request,
            f"{MEMBERS_TEMPLATE}#members",
            lambda: members_context(request, tenant, added=result),
            status=201,
            secret=created,
            redirect=None if created else _members_url(tenant),
        )
    return respond(request, f"{MEMBERS_TEMPLATE}#members", lambda: members_context(request, tenant))


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
