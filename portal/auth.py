"""Who is calling: client IP, credentials, and API key authentication.

`authenticate_key` is the hot path: one indexed query by public id (joined to the key's tenant
and agent) plus one HMAC. A malformed key costs no query at all.
"""

import ipaddress
import logging
from dataclasses import dataclass, field
from functools import cache, lru_cache

from django.conf import settings
from django.utils import timezone

from apikeys import keyformat
from apikeys.lookup import KeyRow, fetch_keys
from apikeys.models import ApiKey
from portal import metrics
from portal.errors import BadRequest, Forbidden, Unauthorized

log = logging.getLogger("tessera.auth")


@dataclass
class Actor:
    """Who did it, as recorded on objects (`createdBy`) and audit events."""

    type: str  # "user" | "api_key" | "agent"
    id: str
    name: str
    ip: str | None = None
    user_agent: str = ""
    user: object = None
    membership: object = None
    key: KeyRow | None = None
    agent: object = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def for_user(cls, user, request=None, membership=None):
        return cls(
            "user", str(user.pk), user.email, *_origin(request), user=user, membership=membership
        )

    @classmethod
    def for_key(cls, key: KeyRow, request=None):
        if key.agent_id:
            agent = key.agent
            return cls("agent", str(agent.pk), agent.name, *_origin(request), key=key, agent=agent)
        return cls("api_key", str(key.pk), key.name, *_origin(request), key=key)

    @classmethod
    def system(cls, name: str):
        """Command-line actions (manage.py): attributed to the operator's shell."""
        return cls("user", "", name)

    @property
    def scopes(self) -> list[str] | None:
        """The admin scopes limiting this actor, or None when it is not limited by scopes."""
        if self.key is not None and self.key.kind == ApiKey.Kind.ADMIN and self.key.scopes:
            return list(self.key.scopes)
        return None

    def as_ref(self) -> dict:
        return {"type": self.type, "id": self.id, "name": self.name}


def _origin(request):
    if request is None:
        return None, ""
    return client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:500]


@cache
def _trusted_networks():
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in settings.TRUSTED_PROXIES)


@lru_cache(maxsize=4096)
def _parse_ip(value: str):
    # Pure function of the string, and the same few addresses recur: parse each once.
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def peer_is_trusted_proxy(request) -> bool:
    """Is the direct peer (REMOTE_ADDR) one of the TRUSTED_PROXIES?"""
    peer = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    return peer is not None and any(peer in net for net in _trusted_networks())


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the first untrusted hop of X-Forwarded-For when the peer is a trusted proxy.

    X-Forwarded-For is read right to left and only while each hop is itself a trusted proxy,
    so a client cannot spoof its address by sending the header itself.
    """
    cached = getattr(request, "_tessera_client_ip", False)
    if cached is not False:
        return cached
    peer = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    result = peer
    trusted = _trusted_networks()
    if peer is not None and trusted and any(peer in net for net in trusted):
        hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            ip = _parse_ip(hop)
            if ip is None:
                break
            result = ip
            if not any(ip in net for net in trusted):
                break
    value = str(result) if result is not None else None
    request._tessera_client_ip = value
    return value


def ip_allowed(ip: str | None, allowed: list[str] | None) -> bool:
    """An empty or null allowlist means no restriction. IPv4-mapped IPv6 matches its IPv4 CIDR."""
    if not allowed:
        return True
    addr = _parse_ip(ip or "")
    if addr is None:
        return False
    for entry in allowed:
        net = _parse_network(entry)
        if net is not None and addr.version == net.version and addr in net:
            return True
    return False


@lru_cache(maxsize=4096)
def _parse_network(entry: str):
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


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


def lookup_key(raw, known=None) -> tuple[keyformat.ParsedKey | None, KeyRow | None]:
    """Find the key that `raw` is, in any tenant: `(parsed, key)`.

    Contract: a malformed `raw` returns `(None, None)` without a query; otherwise one SELECT
    (`apikeys.lookup.fetch_keys`) and one constant-time HMAC comparison. An unknown public id,
    a kind that does not match the prefix, or a wrong secret return `(parsed, None)`: the caller
    cannot tell them apart, and neither can the client. `known` maps public ids already looked
    up in this request (to their row, or None) and saves the query.
    """
    parsed = keyformat.parse(raw)
    if parsed is None:
        return None, None
    if known is not None and parsed.public_id in known:
        key = known[parsed.public_id]
    else:
        key = fetch_keys([parsed.public_id]).get(parsed.public_id)
    if (
        key is None
        or key.kind != parsed.kind
        or not keyformat.matches(parsed.full, key.pepper_id, key.digest)
    ):
        return parsed, None
    return parsed, key


def key_problem(key: KeyRow, tenant_slug: str, now=None) -> str | None:
    """Why an authentic key may not be used in tenant `tenant_slug` now, or None if it may.

    One of `wrong_tenant`, `revoked`, `expired`, `agent_inactive`, `agent_expired`. Read from the
    row just fetched, never from a cache, so revocation and deactivation take effect at once.
    """
    now = now or timezone.now()
    if key.tenant.slug != tenant_slug:
        return "wrong_tenant"
    if key.status == ApiKey.Status.REVOKED:
        return "revoked"
    if key.is_expired(now):
        return "expired"
    if key.agent_id and not key.agent.is_active:
        return "agent_inactive"
    if key.agent_id and key.agent.is_expired(now):
        return "agent_expired"
    return None


def ip_permitted(key: KeyRow, ip: str | None) -> bool:
    """Is `ip` inside both the key's and its agent's allowlists (empty = no restriction)?"""
    return ip_allowed(ip, key.allowed_ips) and (
        not key.agent_id or ip_allowed(ip, key.agent.allowed_ips)
    )


@metrics.counts_authentication("api_key")
def authenticate_key(request, tenant_slug: str, raw: str, also: str | None = None) -> KeyRow:
    """Return the live key for `raw` in tenant `tenant_slug`, or raise Unauthorized/Forbidden.

    Contract: a malformed key is rejected without a query; otherwise exactly one indexed SELECT
    (key + tenant + agent) and one HMAC. Rejections of keys that exist are audited in the key's
    own tenant; unknown and malformed keys go to the log with the prefix only.

    `also`, another key string the view will look at (the key that `/keys/verify` verifies), is
    fetched in the same SELECT with its agent's access set; `request.keys_fetched` then maps
    both public ids to their rows (or None), for `lookup_key(…, known=…)`.
    """
    mine, other = (keyformat.parse(raw), keyformat.parse(also)) if also else (None, None)
    if mine is not None and other is not None:
        ids = list(dict.fromkeys([mine.public_id, other.public_id]))
        found = fetch_keys(ids, with_access=True)
        request.keys_fetched = {public_id: found.get(public_id) for public_id in ids}
    parsed, key = lookup_key(raw, getattr(request, "keys_fetched", None))
    if parsed is None:
        log.info("rejected a malformed API key on %s", request.path)
        raise Unauthorized()
    if key is None:
        log.info("rejected unknown API key %s on %s", parsed.prefix, request.path)
        raise Unauthorized()
    reason = key_problem(key, tenant_slug)
    if reason:
        reject(request, key, reason)
        raise Unauthorized()
    if not ip_permitted(key, client_ip(request)):
        reject(request, key, "ip_not_allowed")
        raise Forbidden("Requests from this IP address are not allowed for this key.")
    return key


def reject(request, key: KeyRow, reason: str, **extra) -> None:
    """Record `api_key.rejected` in the key's own tenant (never the secret).

    Repeats of one key and reason within a minute are summed into one event
    (`apikeys.usage.record_rejection`), so a flood of a revoked key writes no row per request.
    """
    from apikeys import usage

    log.info("rejected API key %s: %s", key.prefix, reason)
    usage.record_rejection(
        key,
        Actor.for_key(key, request),
        {"reason": reason, "method": request.method, "path": request.path, **extra},
    )
