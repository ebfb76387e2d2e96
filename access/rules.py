"""Who may pass: each rule once, called by every door (SPEC §3, §6a, §10, §15).

The key's state (`key_problem`), the IP allowlists (`ip_permitted`), the access set
(`access_set`, `key_access_set`), permission and scope matching (`permission_matches`,
`Matcher`, `scope_allows`) and the permission format (`PERMISSION_RE`, `is_permission`).
"""

import fnmatch
import ipaddress
import re
from functools import lru_cache

from django.utils import timezone

from access import keyformat
from access.credentials import parse_ip

PERMISSION_RE = r"^[a-z][a-z0-9_.-]*:[a-z0-9_.*/-]+$"
PERMISSION_MAX_LENGTH = 200
MAX_PERMISSIONS = 200
_PERMISSION = re.compile(PERMISSION_RE)
# An access token may replace or deactivate its own agent's key only with this scope, which a
# token request gets only by naming it (SPEC §10 "A token is not its key").
MANAGE_SELF = "manage:self"
ADMIN_SCOPES = (
    "api_keys:read",
    "api_keys:write",
    "agents:read",
    "agents:write",
    "roles:read",
    "roles:write",
    "audit:read",
    "keys:verify",
    "webhooks:read",
    "webhooks:write",
)


def is_permission(value) -> bool:
    """`action:resource`, at most 200 characters (no NUL, no surrogate: ASCII only)."""
    return (
        isinstance(value, str)
        and len(value) <= PERMISSION_MAX_LENGTH
        and _PERMISSION.fullmatch(value) is not None
    )


# --- the key's state ----------------------------------------------------------------------


def key_problem(key, tenant_slug: str, now=None) -> str | None:
    """Why an authentic key may not be used in tenant `tenant_slug` now, or None if it may.

    One of `wrong_tenant`, `revoked`, `expired`, `agent_inactive`, `agent_expired`. Read from the
    row just fetched, never from a cache, so revocation and deactivation take effect at once.
    """
    now = now or timezone.now()
    if key.tenant.slug != tenant_slug:
        return "wrong_tenant"
    if key.status == keyformat.REVOKED:
        return "revoked"
    if key.is_expired(now):
        return "expired"
    if key.agent_id and not key.agent.is_active:
        return "agent_inactive"
    if key.agent_id and key.agent.is_expired(now):
        return "agent_expired"
    return None


# --- IP allowlists ------------------------------------------------------------------------


def ip_allowed(ip: str | None, allowed: list[str] | None) -> bool:
    """An empty or null allowlist means no restriction. IPv4-mapped IPv6 matches its IPv4 CIDR."""
    if not allowed:
        return True
    addr = parse_ip(ip or "")
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


def ip_permitted(key, ip: str | None) -> bool:
    """Is `ip` inside both the key's and its agent's allowlists (empty = no restriction)?"""
    return ip_allowed(ip, key.allowed_ips) and (
        not key.agent_id or ip_allowed(ip, key.agent.allowed_ips)
    )


def refusal(key, tenant_slug: str, ip: str | None) -> str | None:
    """Why a key presented for verification from `ip` (None: not checked) is refused, or None."""
    reason = key_problem(key, tenant_slug)
    if reason is None and ip is not None and not ip_permitted(key, ip):
        reason = "ip_not_allowed"
    return reason


# --- the access set -----------------------------------------------------------------------


def merge_access(roles, direct, grants, now) -> list[dict]:
    """The merged access set: role permissions ∪ direct permissions ∪ grants unexpired at `now`.

    `roles`: `(source, permissions)` pairs; `grants`: `(source, permission, expires_at)`.
    Returns `[{"permission", "source", "expiresAt"}]`; a grant past its deadline is left out.
    """
    entries = [
        {"permission": perm, "source": source, "expiresAt": None}
        for source, perms in roles
        for perm in perms or []
    ]
    entries += [
        {"permission": perm, "source": "direct", "expiresAt": None} for perm in direct or []
    ]
    entries += [
        {"permission": perm, "source": source, "expiresAt": expires_at}
        for source, perm, expires_at in grants
        if expires_at is None or expires_at > now
    ]
    return entries


def access_set(agent, now=None) -> list[dict]:
    """An agent's access set from its model (`roles.all()`, `grants.all()`: prefetch them),
    with sources `role:<slug>`, `direct`, `grant:<id>` (`/agents/me/grants`, the agent page)."""
    return merge_access(
        ((f"role:{role.slug}", role.permissions) for role in agent.roles.all()),
        agent.permissions,
        ((f"grant:{g.pk}", g.permission, g.expires_at) for g in agent.grants.all()),
        now or timezone.now(),
    )


def key_access_set(key, now=None) -> list[dict]:
    """What an agent key may do now, from the row `fetch_keys(with_access=True)` read: its
    agent's access set (sources `role` and `grant` without their ids, which that statement does
    not read), narrowed to the key's own `permissions` when it has them (SPEC §15)."""
    role_lists, grants = key.access or ([], [])
    entries = merge_access(
        (("role", perms) for perms in role_lists),
        key.agent.permissions,
        (("grant", perm, expiry) for perm, expiry in grants),
        now or timezone.now(),
    )
    return narrow(entries, key.permissions)


def narrow(entries: list[dict], permissions: list[str] | None) -> list[dict]:
    """The intersection of an access set with a key's own `permissions` (None: no narrowing),
    under `permission_matches`: an entry the key's list covers stays as it is; a key permission
    narrower than a wildcard entry (`read:reports` under `read:*`) is kept with that entry's
    source and expiry. Taking a role from the agent therefore narrows every key at once."""
    if permissions is None:
        return entries
    mine = Matcher(permissions)
    kept = [entry for entry in entries if mine.allows(entry["permission"])]
    held = {entry["permission"] for entry in kept}
    for entry in entries:
        if "*" not in entry["permission"]:
            continue
        kept += [
            {**entry, "permission": perm}
            for perm in permissions
            if perm not in held and permission_matches(entry["permission"], perm)
        ]
    return kept


def permissions_of(key, now=None) -> list[str]:
    """What a key may do: an agent key's access set; an admin key's scopes (all of them for a
    full-admin key)."""
    if key.agent is None:
        return list(key.scopes) or list(ADMIN_SCOPES)
    return [entry["permission"] for entry in key_access_set(key, now)]


def expiries(entries: list[dict]) -> dict:
    """permission -> when the access set stops holding it (None: never)."""
    ends: dict = {}
    for entry in entries:
        perm, expiry = entry["permission"], entry["expiresAt"]
        if perm not in ends:
            ends[perm] = expiry
        elif ends[perm] is not None:
            ends[perm] = None if expiry is None else max(ends[perm], expiry)
    return ends


# --- matching -----------------------------------------------------------------------------


def permission_matches(granted: str, wanted: str) -> bool:
    """`read:reports` matches itself; a `*` in the resource part matches any run of characters."""
    if granted == wanted:
        return True
    if "*" not in granted:
        return False
    g_action, _, g_resource = granted.partition(":")
    w_action, _, w_resource = wanted.partition(":")
    return g_action == w_action and fnmatch.fnmatchcase(w_resource, g_resource.replace("?", "[?]"))


class Matcher:
    """`permission_matches` against a whole set at once: an exact match is one dict lookup and
    only wildcards are tried one by one, so checking a scope is linear in its size."""

    def __init__(self, granted):
        self.exact: dict = {}
        self.wildcards: list = []
        for perm, expiry in (
            granted.items() if isinstance(granted, dict) else ((g, None) for g in granted)
        ):
            if "*" in perm:
                self.wildcards.append((perm, expiry))
            self.exact[perm] = expiry

    def covering(self, wanted: str) -> list:
        """The expiries of every granted permission that matches `wanted`."""
        found = [self.exact[wanted]] if wanted in self.exact else []
        return found + [
            e for g, e in self.wildcards if g != wanted and permission_matches(g, wanted)
        ]

    def allows(self, wanted: str) -> bool:
        return wanted in self.exact or any(permission_matches(g, wanted) for g, _ in self.wildcards)


def scope_allows(scopes: list[str] | None, needed: str | None) -> bool:
    """An admin key's scopes: empty scopes mean full admin. `x:write` implies `x:read`."""
    if not scopes or needed is None:
        return True
    if needed in scopes:
        return True
    resource, _, action = needed.partition(":")
    return action == "read" and f"{resource}:write" in scopes


def key_allows(key, permissions: list[str], wanted: str) -> bool:
    """May `key`, holding `permissions` (`permissions_of`), do `wanted`?"""
    if key.agent is not None:
        return Matcher(permissions).allows(wanted)
    return scope_allows(permissions, wanted)
