"""What `/healthz` and `/readyz` check: the database, and Redis when one is configured."""

import logging
import threading

from django.conf import settings
from django.db import connection

from portal import outage

log = logging.getLogger("tessera")
TIMEOUT_SECONDS = 2

_clients = {}
_lock = threading.Lock()


def database_ok(request=None) -> bool:
    """One `SELECT 1`. A failure that is an outage is noted (logged once per outage, and the
    request's own 503 kept out of the request log)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        if outage.is_unavailable(exc):
            outage.failed(exc)
            if request is not None:
                request.database_unavailable = True
        return False
    return True


def redis_urls() -> list[str]:
    """Every Redis the deployment uses: the cache (rate limits) and the usage buffer."""
    urls = []
    cache = settings.CACHES["default"]
    if cache["BACKEND"].endswith("RedisCache"):
        location = cache.get("LOCATION") or []
        urls.extend([location] if isinstance(location, str) else location)
    if settings.USAGE_REDIS_URL:
        urls.append(settings.USAGE_REDIS_URL)
    return list(dict.fromkeys(urls))


def _client(url):
    import redis

    with _lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(
                url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
            )
        return _clients[url]


def redis_ok() -> bool:
    """A PING to each configured Redis. The URL is never logged: it may hold a password."""
    for url in redis_urls():
        try:
            _client(url).ping()
        except Exception as exc:
            log.warning("readiness: Redis does not answer (%s)", type(exc).__name__)
            return False
    return True
