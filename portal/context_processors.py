from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from portal import once


def portal(request):
    """Tenant, membership and the tenants the user can switch to, for the nav."""
    ctx = {
        "tenant": getattr(request, "tenant", None),
        "membership": getattr(request, "membership", None),
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not getattr(request, "is_api", False):
        ctx["my_memberships"] = _with_pending_requests(
            user.memberships.select_related("tenant").order_by("tenant__slug")
        )
    membership = ctx["membership"]
    ctx["can_write"] = membership is not None and membership.allows("admin")
    ctx["is_owner"] = membership is not None and membership.allows("owner")
    # The one-time nonce the page's mint forms carry (portal/once.py); new with every render.
    ctx["form_nonce"] = once.new_nonce
    # The deployment's SSO providers (OIDC_PROVIDERS), for "Sign in with ..." links.
    ctx["sso_providers"] = settings.OIDC_PROVIDERS
    return ctx


def _with_pending_requests(memberships):
    """Each tenant's pending elevation requests (SPEC §15), for the navigation's notice: counted
    in the query that lists the tenant switcher, so no page pays a query of its own for it."""
    pending = Q(
        tenant__grant_requests__status="pending",
        tenant__grant_requests__expires_at__gt=timezone.now(),
    )
    return memberships.annotate(
        pending_grant_requests=Count("tenant__grant_requests", filter=pending)
    )
