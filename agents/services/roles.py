"""Roles: named sets of permissions that agents hold."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from agents.forms import validate_role_slug
from agents.models import Role
from agents.services._common import _lock, _save_unique
from audit.services import record
from portal.errors import Conflict, Invalid


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
