"""The login page (allauth's), the tenant picker, the tenant overview and the members page."""

import datetime as dt

from allauth.account import views as allauth_views
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from apikeys.forms import EmptyForm
from apikeys.models import ApiKey
from oauth import services as oauth_services
from portal.errors import NotFound
from portal.respond import respond
from portal.tenancy import get_or_404, tenant_view
from portal.validation import validate
from tenants import services
from tenants.auth import THROTTLED_ATTR
from tenants.forms import ROLE_CHOICES, AddMemberForm, RoleForm

EXPIRY_HORIZON = dt.timedelta(days=14)
RECENT_EVENTS = 10
SOON_ROWS = 20


# --- login and picker ----------------------------------------------------------------


class Login(allauth_views.LoginView):
    """allauth's login at /login; a refused form answers 400, a throttled email 429."""

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


MEMBER_ACTIONS = {"role": RoleForm, "remove": EmptyForm}


@tenant_view(write_role="owner", methods=("POST",), page=_members_page)
def member_action(request, tenant, membership_id, action):
    """POST .../settings/members/<id>/role|remove (owners only)."""
    if action not in MEMBER_ACTIONS:
        raise NotFound()
    membership = get_or_404(tenant.memberships.select_related("user"), pk=membership_id)
    data, _ = validate(MEMBER_ACTIONS[action], request)
    mine = membership.pk == request.membership.pk
    if action == "role":
        result = services.change_role(tenant, request.actor, membership, role=data["role"])
        if mine:
            request.membership = result.membership
        done = f"is now {result.membership.get_role_display().lower()}"
        if not result.changed:
            done = f"was already {result.membership.get_role_display().lower()}"
    else:
        services.remove_member(tenant, request.actor, membership)
        done = f"was removed from {tenant.name}"
    messages.success(request, f"{membership.user.email} {done}.")
    # Removing yourself leaves nothing of this tenant for you to see: back to the picker.
    left = mine and action == "remove"
    next_url = reverse("tenant-picker") if left else _members_url(tenant)
    return respond(
        request,
        f"{MEMBERS_TEMPLATE}#members",
        lambda: members_context(request, tenant),
        redirect=next_url,
        headers={"HX-Redirect": next_url} if left else None,
    )
