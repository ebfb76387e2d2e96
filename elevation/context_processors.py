from elevation.services import cached_pending_count


def pending(request):
    """The navigation's notice of pending elevation requests, counted only if a page shows it."""
    tenant = getattr(request, "tenant", None)
    if tenant is None or getattr(request, "is_api", False):
        return {}
    return {"pending_grant_requests": lambda: cached_pending_count(tenant)}
