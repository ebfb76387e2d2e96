"""Who is calling: the client's address and the credential it sent (SPEC §3).

`get_credential` reads the one credential of a request (`Authorization: Bearer|ApiKey` or
`X-API-Key`); `client_ip` the address, trusting `X-Forwarded-For` only from `TRUSTED_PROXIES`.
"""

import logging

from access import keyformat
from portal.errors import BadRequest, Unauthorized
from portal.proxies import is_trusted, parse_ip

log = logging.getLogger("tessera.auth")


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the first untrusted hop of X-Forwarded-For when the peer is a trusted proxy.

    X-Forwarded-For is read right to left and only while each hop is itself a trusted proxy,
    so a client cannot spoof its address by sending the header itself.
    """
    cached = getattr(request, "_tessera_client_ip", False)
    if cached is not False:
        return cached
    peer = parse_ip(request.META.get("REMOTE_ADDR", ""))
    result = peer
    if is_trusted(peer):
        hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            ip = parse_ip(hop)
            if ip is None:
                break
            result = ip
            if not is_trusted(ip):
                break
    value = str(result) if result is not None else None
    request._tessera_client_ip = value
    return value


def _key_in_url(value: str) -> bool:
    # A key's prefix alone (a search, `?q=lmk_AbC`) is public; anything more may be a secret.
    return keyformat.looks_like_key(value) and not keyformat.is_prefix_only(value)


def get_credential(request) -> str | None:
    """The API key sent in `Authorization: Bearer|ApiKey` or `X-API-Key`, or None.

    Two different credentials in one request are a 400. A key in the query string is refused.
    """
    found = []
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() not in ("bearer", "apikey") or not token.strip():
            log.info("refused an Authorization header without a key on %s", request.path)
            raise Unauthorized(
                "Use 'Authorization: Bearer <key>' or 'Authorization: ApiKey <key>'."
            )
        found.append(token.strip())
    x_api_key = request.META.get("HTTP_X_API_KEY", "")
    if x_api_key:
        found.append(x_api_key.strip())
    # Most requests have no query string: don't build a QueryDict just to find nothing in it.
    query_lists = request.GET.lists() if request.META.get("QUERY_STRING") else ()
    for values in query_lists:
        if any(_key_in_url(v) for v in values[1]) or keyformat.looks_like_key(values[0]):
            log.warning("refused an API key sent in the query string of %s", request.path)
            raise Unauthorized(
                "API keys are never accepted in the URL query string; send them in a header."
            )
    if len(set(found)) > 1:
        log.info("refused a request with two different API keys on %s", request.path)
        raise BadRequest("Send one credential: the request carries two different API keys.")
    return found[0] if found else None
