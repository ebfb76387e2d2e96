"""Agents: creating (with a first key), changing, switching on and off, deleting."""

from django.db import transaction
from django.utils import timezone

from access import tokens
from agents.models import Agent, Role, name_key
from agents.services._common import _by, _lock_agent, _plain, _save_unique
from apikeys import services as key_services
from apikeys.serializers import quota as quota_json
from audit.services import record
from portal.errors import Conflict, Invalid

FIRST_KEY_NAME = "default"


def _whole_seconds(value):
    # Expiries are kept to the second, so the portal's date input round-trips them exactly.
    return value.replace(microsecond=0) if value is not None else None


def _resolve_roles(tenant, slugs) -> list[Role]:
    """The tenant's roles for `slugs`, in order; an unknown slug is a 400."""
    slugs = list(slugs or [])
    if not slugs:
        return []
    found = {role.slug: role for role in tenant.roles.filter(slug__in=slugs)}
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise Invalid({"roles": [f"Unknown role '{slug}'." for slug in unknown]})
    return [found[slug] for slug in slugs]


def _check_agent_name_free(tenant, name: str, *, exclude=None) -> None:
    others = tenant.agents.filter(name_key=name_key(name))
    if exclude is not None:
        others = others.exclude(pk=exclude)
    if others.exists():
        raise Conflict(_name_taken(name))


def _name_taken(name: str) -> str:
    return f"An agent named “{name}” already exists in this tenant."


def create_agent(
    tenant,
    actor,
    *,
    name,
    type=None,
    description="",
    roles=(),
    permissions=(),
    allowed_ips=None,
    expires_at=None,
    rate_limit_per_minute=None,
    meta=None,
    quota_limit=None,
    quota_period="",
    key_permissions=None,
):
    """Create an agent and its first key. Returns (agent, key, plaintext) — show it once.
    `key_permissions` narrow the first key (SPEC §15); the quota is the agent's, shared by all
    its keys and tokens."""
    with transaction.atomic():
        role_objs = _resolve_roles(tenant, roles)
        _check_agent_name_free(tenant, name)
        agent = Agent(
            tenant=tenant,
            name=name,
            type=type or Agent.Type.SERVICE,
            description=description or "",
            permissions=list(permissions or []),
            allowed_ips=list(allowed_ips) if allowed_ips else None,
            expires_at=_whole_seconds(expires_at),
            rate_limit_per_minute=rate_limit_per_minute,
            meta=dict(meta or {}),
            quota_limit=quota_limit or None,
            quota_period=quota_period if quota_limit else "",
            **_by(actor, "created_by"),
        )
        _save_unique(agent, _name_taken(name))
        agent.roles.set(role_objs)
        record(
            tenant,
            actor,
            "agent.created",
            target=agent,
            metadata={
                "type": agent.type,
                "roles": [role.slug for role in role_objs],
                "permissions": agent.permissions,
                "allowedIps": agent.allowed_ips,
                "expiresAt": _plain(agent.expires_at),
                "rateLimitPerMinute": agent.rate_limit_per_minute,
                "quota": quota_json(agent),
            },
        )
        key, secret = key_services.mint_key(
            tenant, actor, name=FIRST_KEY_NAME, agent=agent, permissions=key_permissions
        )
    return agent, key, secret


def update_agent(tenant, actor, agent, **changes) -> Agent:
    """Change the given fields only (PUT and PATCH alike). `roles` are slugs; `is_active`
    switches the agent on or off as `set_agent_active` does."""
    with transaction.atomic():
        locked = _lock_agent(tenant, agent)
        if "expires_at" in changes:
            expires_at = _whole_seconds(changes["expires_at"])
            # Sending the stored expiry back (an already expired agent's edit form does) is
            # not a change; a new expiry must be in the future.
            if expires_at not in (None, locked.expires_at) and expires_at <= timezone.now():
                raise Invalid({"expiresAt": ["Must be in the future."]})
        diff = {}
        if "roles" in changes:
            role_objs = _resolve_roles(tenant, changes.pop("roles"))
            old = sorted(role.slug for role in locked.roles.all())
            new = sorted(role.slug for role in role_objs)
            if old != new:
                locked.roles.set(role_objs)
                diff["roles"] = [old, new]
        active = changes.pop("is_active", None)
        if "name" in changes and changes["name"] != locked.name:
            _check_agent_name_free(tenant, changes["name"], exclude=locked.pk)
        normalise = {
            "allowed_ips": lambda v: list(v) if v else None,
            "permissions": lambda v: list(v or []),
            "description": lambda v: v or "",
            "meta": lambda v: dict(v or {}),
            "expires_at": _whole_seconds,
        }
        for field, value in changes.items():
            value = normalise.get(field, lambda v: v)(value)
            old = getattr(locked, field)
            if old != value:
                setattr(locked, field, value)
                diff[field] = [_plain(old), _plain(value)]
        if diff:
            _save_unique(locked, _name_taken(locked.name))
            record(tenant, actor, "agent.updated", target=locked, metadata={"changes": diff})
        if active is not None and active != locked.is_active:
            _switch(tenant, actor, locked, active)
    return locked


def _switch(tenant, actor, locked: Agent, active: bool) -> None:
    locked.is_active = active
    locked.save(update_fields=["is_active", "updated_at"])
    if not active:
        # Deactivation ends the agent's tokens for good: activating it again revives none.
        tokens.end_tokens(agent_id=locked.pk)
    action = "agent.activated" if active else "agent.deactivated"
    record(tenant, actor, action, target=locked, metadata={"isActive": active})


def set_agent_active(tenant, actor, agent, active: bool) -> Agent:
    """Activate or deactivate. An inactive agent's keys all answer 401 until it is activated
    again (by an admin: its own keys cannot, since they no longer authenticate)."""
    with transaction.atomic():
        locked = _lock_agent(tenant, agent)
        if locked.is_active == active:
            raise Conflict(f"The agent is already {'active' if active else 'inactive'}.")
        _switch(tenant, actor, locked, active)
    return locked


def delete_agent(tenant, actor, agent) -> None:
    """Delete the agent with its keys, grants and usage counts (the audit trail stays)."""
    with transaction.atomic():
        locked = _lock_agent(tenant, agent)
        prefixes = [key.prefix for key in tenant.api_keys.filter(agent=locked)]
        record(
            tenant,
            actor,
            "agent.deleted",
            target=locked,
            metadata={"type": locked.type, "deletedKeys": prefixes},
        )
        locked.delete()
