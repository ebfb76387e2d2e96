"""Agents, roles and grants: every rule and every write.

Each service is one `transaction.atomic()` that locks the rows it changes, checks their state
after locking, and records its audit event inside the same transaction. Key lifecycles are
delegated to `apikeys.services` (which record the `api_key.*` events); plaintext keys are
returned to the caller once and never stored, logged or audited.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from access import tokens
from agents.forms import validate_role_slug
from agents.models import Agent, Grant, Role, name_key
from apikeys import services as key_services
from apikeys.models import ApiKey
from apikeys.serializers import quota as quota_json
from audit.services import record
from portal.errors import Conflict, Invalid, NotFound

FIRST_KEY_NAME = "default"


# --- helpers ------------------------------------------------------------------------------


def _by(actor, prefix: str) -> dict:
    """The actor, as the `<prefix>_type/_id/_name` columns of a new row."""
    return {
        f"{prefix}_type": actor.type,
        f"{prefix}_id": actor.id,
        f"{prefix}_name": actor.name[:200],
    }


def _save_unique(obj, message: str) -> None:
    """Save; a unique-constraint race lost to a concurrent transaction is a 409, not a 500."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise Conflict(message) from None


def _plain(value):
    """A value as it may appear in audit metadata (JSON)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _whole_seconds(value):
    # Expiries are kept to the second, so the portal's date input round-trips them exactly.
    return value.replace(microsecond=0) if value is not None else None


def _lock(queryset, obj):
    """Re-read `obj` from a tenant's queryset under a row lock (a vanished row is a 404)."""
    locked = queryset.select_for_update().filter(pk=obj.pk).first()
    if locked is None:
        raise NotFound()
    return locked


def _lock_agent(tenant, agent) -> Agent:
    return _lock(tenant.agents, agent)


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


# --- agents -------------------------------------------------------------------------------


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


# --- agent keys ---------------------------------------------------------------------------


def mint_agent_key(
    tenant,
    actor,
    agent,
    *,
    name,
    expires_at=None,
    rate_limit_per_minute=None,
    allowed_ips=None,
    permissions=None,
    quota_limit=None,
    quota_period="",
):
    """Mint another key for the agent. Returns (key, plaintext)."""
    with transaction.atomic():
        locked = _lock_agent(tenant, agent)
        return key_services.mint_key(
            tenant,
            actor,
            name=name,
            agent=locked,
            expires_at=expires_at,
            rate_limit_per_minute=rate_limit_per_minute,
            allowed_ips=allowed_ips,
            permissions=permissions,
            quota_limit=quota_limit,
            quota_period=quota_period,
        )


def rotate_agent_keys(tenant, actor, agent, *, key_id=None, grace_period: int = 0):
    """Replace the agent's key `key_id`, or without it every live key, by one new key.

    The replaced keys are revoked now (grace 0) or deprecated until now + grace. Without
    `key_id` and with no grace, keys still in the grace window of an earlier rotation are
    revoked too, so no old credential outlives the call. Returns (new_key, plaintext).
    """
    with transaction.atomic():
        locked_agent = _lock_agent(tenant, agent)
        keys_qs = tenant.api_keys.select_for_update().filter(agent=locked_agent)
        if key_id is not None:
            keys = list(keys_qs.filter(pk=key_id))
            if not keys:
                raise NotFound("This agent has no key with that id.")
            earlier = []
        else:
            now = timezone.now()
            live = [
                key
                for key in keys_qs.order_by("-created_at", "-id")
                if key.status != ApiKey.Status.REVOKED and not key.is_expired(now)
            ]
            keys = [key for key in live if not key.replaced_by_id]
            earlier = [key for key in live if key.replaced_by_id]
            if not keys:
                raise Conflict("The agent has no live key to rotate; mint a new key instead.")
        for key in keys:
            key.agent = locked_agent
        new_key, secret = key_services.replace_keys(tenant, actor, keys, grace_period=grace_period)
        if not grace_period:
            for key in earlier:
                key_services.revoke_rotated_key(tenant, actor, key)
        record(
            tenant,
            actor,
            "agent.key_rotated",
            target=locked_agent,
            metadata={
                "replacedKeys": [key.prefix for key in keys + earlier],
                "newKeyId": str(new_key.pk),
                "newPrefix": new_key.prefix,
                "gracePeriod": grace_period,
            },
        )
    return new_key, secret


# --- grants -------------------------------------------------------------------------------


def create_grant(tenant, actor, agent, *, permission, expires_at=None, reason="") -> Grant:
    """Grant one permission to the agent, optionally until `expires_at` (just-in-time)."""
    with transaction.atomic():
        locked = _lock_agent(tenant, agent)
        grant = Grant.objects.create(
            tenant=tenant,
            agent=locked,
            permission=permission,
            expires_at=expires_at,
            reason=reason or "",
            **_by(actor, "granted_by"),
        )
        record(
            tenant,
            actor,
            "grant.created",
            target=grant,
            metadata={
                "agentId": str(locked.pk),
                "agentName": locked.name,
                "permission": permission,
                "expiresAt": _plain(expires_at),
                "reason": grant.reason,
            },
        )
    return grant


def revoke_grant(tenant, actor, grant) -> None:
    """Take the grant away now (the audit trail keeps the record of it)."""
    with transaction.atomic():
        locked = _lock(tenant.grants, grant)
        record(
            tenant,
            actor,
            "grant.revoked",
            target=locked,
            metadata={
                "agentId": str(locked.agent_id),
                "permission": locked.permission,
                "expiresAt": _plain(locked.expires_at),
                "expired": locked.is_expired(),
            },
        )
        locked.delete()


# --- roles --------------------------------------------------------------------------------


def _slug_taken(slug: str) -> str:
    return f"A role with the slug “{slug}” already exists in this tenant."


def create_role(tenant, actor, *, name, slug="", permissions=()) -> Role:
    """Create a role; without a slug, one is made from the name."""
    if not slug:
        slug = slugify(name)[:50].strip("-")
        try:
            validate_role_slug(slug)
        except ValidationError:
            raise Invalid({"slug": ["Give a slug: none can be made from this name."]}) from None
    with transaction.atomic():
        if tenant.roles.filter(slug=slug).exists():
            raise Conflict(_slug_taken(slug))
        role = Role(tenant=tenant, slug=slug, name=name, permissions=list(permissions or []))
        _save_unique(role, _slug_taken(slug))
        record(
            tenant,
            actor,
            "role.created",
            target=role,
            metadata={"name": role.name, "permissions": role.permissions},
        )
    return role


def update_role(tenant, actor, role, **changes) -> Role:
    """Change the given fields (slug, name, permissions). Agents holding the role see new
    permissions at once: access sets are computed when asked for."""
    with transaction.atomic():
        locked = _lock(tenant.roles, role)
        if "slug" in changes and changes["slug"] != locked.slug:
            if tenant.roles.filter(slug=changes["slug"]).exists():
                raise Conflict(_slug_taken(changes["slug"]))
        diff = {}
        for field, value in changes.items():
            if field == "permissions":
                value = list(value or [])
            if getattr(locked, field) != value:
                diff[field] = [getattr(locked, field), value]
                setattr(locked, field, value)
        if diff:
            _save_unique(locked, _slug_taken(locked.slug))
            record(tenant, actor, "role.updated", target=locked, metadata={"changes": diff})
    return locked


def role_holders(role) -> list[str]:
    return list(role.agents.order_by("name").values_list("name", flat=True))


def delete_role(tenant, actor, role, *, force: bool = False) -> None:
    """Delete a role. If agents hold it, refuse (409 naming them) unless `force`, which takes
    it away from them as well."""
    with transaction.atomic():
        locked = _lock(tenant.roles, role)
        holders = role_holders(locked)
        if holders and not force:
            more = len(holders) - 10
            shown = ", ".join(holders[:10]) + (f" and {more} more" if more > 0 else "")
            raise Conflict(
                f"Role “{locked.slug}” is held by {len(holders)} agent(s): {shown}. "
                "Delete it with force=true to take it away from them too.",
                details={"agents": holders},
            )
        record(
            tenant,
            actor,
            "role.deleted",
            target=locked,
            metadata={"permissions": locked.permissions, "removedFromAgents": holders},
        )
        locked.delete()
