"""Grants: one permission given to an agent, optionally until a deadline (just-in-time)."""

from django.db import transaction

from agents.models import Grant
from agents.services._common import _by, _lock, _lock_agent, _plain
from audit.services import record


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
