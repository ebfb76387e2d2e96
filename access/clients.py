"""The OAuth doors (SPEC §10): client authentication and the checks of a refresh.

A client secret is a live key of the agent whose id is the client id; it passes the same rules
as a key on any other door (`access.rules`), and a key that exists but is refused is audited
`api_key.rejected`. A refresh checks the key that minted its grant in the same way.
"""

from access import events, keyformat
from access.credentials import client_ip
from access.keys import KeyRow, fetch_keys, lookup_key
from access.rules import ip_permitted, key_problem
from portal import metrics
from portal.errors import Forbidden, invalid_client, invalid_grant

IP_REFUSED = "Requests from this IP address are not allowed for this key."


@metrics.counts_authentication("oauth_client")
def authenticate_client(request, tenant_slug: str, client_id, client_secret) -> KeyRow:
    """The live agent key that `client_secret` is, if it belongs to agent `client_id` in this
    tenant; else `invalid_client` (an unknown tenant answers exactly like a wrong secret), or
    403 for an address outside the key's or its agent's allowlist. The key comes with its
    agent's access set, in one SELECT."""
    parsed = keyformat.parse(client_secret) if isinstance(client_secret, str) else None
    if parsed is None or not isinstance(client_id, str):
        raise invalid_client()
    known = fetch_keys([parsed.public_id], with_access=True)
    _, key = lookup_key(client_secret, known)
    if key is None or key.kind != keyformat.AGENT or str(key.agent_id) != client_id.strip().lower():
        raise invalid_client()
    reason = key_problem(key, tenant_slug)
    if reason is not None:
        events.reject(key, reason, request=request, via="oauth")
        raise invalid_client()
    if not ip_permitted(key, client_ip(request)):
        events.reject(key, "ip_not_allowed", request=request, via="oauth")
        raise Forbidden(IP_REFUSED)
    return key


def refresh_key(public_id: str, tenant_slug: str, ip, now=None) -> KeyRow:
    """The key that minted a grant, if a refresh may use it now: revoked, expired or inactive
    → `invalid_grant`; outside the key's or agent's allowlist → 403 (audited either way)."""
    key = fetch_keys([public_id], with_access=True).get(public_id)
    if key is None:
        raise invalid_grant("The client's key no longer authenticates.")
    reason = key_problem(key, tenant_slug, now)
    if reason is not None:
        events.reject(key, reason, source_ip=ip, via="refresh")
        raise invalid_grant("The client's key no longer authenticates.")
    if not ip_permitted(key, ip):
        events.reject(key, "ip_not_allowed", source_ip=ip, via="refresh")
        raise Forbidden(IP_REFUSED)
    return key
