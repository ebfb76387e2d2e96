"""One-time nonces for the portal's mint forms: a form posted twice mints one key.

Without JavaScript, reloading the page a mint answered (or Back and "Resend") posts the form
again. Each mint form carries a random `nonce` (a hidden field, renewed with every page and by
portal.js after every in-place mint); the first post with it claims it, a second is a 409 that
mints nothing. Only a hash of tenant, user and nonce is kept (in the cache, for a day), never
the key. The JSON API sends no nonce and is unchanged.
"""

import hashlib
import secrets
from contextlib import contextmanager

from django.core.cache import cache

from portal.errors import Conflict

FIELD = "nonce"
TTL_SECONDS = 24 * 3600
ALREADY_SENT = (
    "This form was already sent, so no new key was made: a key is shown only once, after the "
    "first send. Open the page again to make another."
)


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def _cache_key(request, nonce: str) -> str:
    scope = f"{request.tenant.pk}:{request.actor.type}:{request.actor.id}:{nonce}"
    return "tessera:form-nonce:" + hashlib.sha256(scope.encode()).hexdigest()


@contextmanager
def claimed(request):
    """Claim the posted nonce around a mint: 409 if it was claimed before. A mint that fails
    hands the nonce back, so the same form can be corrected and sent again."""
    nonce = "" if request.is_api else request.POST.get(FIELD, "")
    if not nonce:
        yield
        return
    key = _cache_key(request, nonce)
    if not cache.add(key, 1, TTL_SECONDS):
        raise Conflict(ALREADY_SENT)
    try:
        yield
    except BaseException:
        cache.delete(key)
        raise
