from django.conf import settings

from portal import once


def portal(request):
    """Tenant, membership and the tenants the user can switch to, for the nav."""
    ctx = {
        "tenant": getattr(request, "tenant", None),
        "membership": getattr(request, "membership", None),
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not getattr(request, "is_api", False):
        ctx["my_memberships"] = user.memberships.select_related("tenant").order_by("tenant__slug")
    membership = ctx["membership"]
    ctx["can_write"] = membership is not None and membership.allows("admin")
    ctx["is_owner"] = membership is not None and membership.allows("owner")
    # The one-time nonce the page's mint forms carry (portal/once.py); new with every render.
    ctx["form_nonce"] = once.new_nonce
    # The deployment's SSO providers (OIDC_PROVIDERS), for "Sign in with ..." links.
    ctx["sso_providers"] = settings.OIDC_PROVIDERS
    return ctx
