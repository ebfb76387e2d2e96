"""System checks of our own (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register(checks.Tags.caches, deploy=True)
def check_shared_cache(app_configs=None, **kwargs):
    """Rate limits and login throttles count in the cache: a per-process cache gives every
    worker its own budget, so N workers allow N times the limit."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if settings.DEBUG or backend not in PER_PROCESS_CACHES:
        return []
    return [
        checks.Warning(
            "CACHE_URL is a per-process cache (local memory) with DEBUG off: rate limits and "
            "login throttles are counted per worker process, not per site.",
            hint="Set CACHE_URL to a shared cache, e.g. redis://host:6379/0.",
            id="portal.W001",
        )
    ]
