"""Elevation requests (SPEC §15): an agent asks, an admin approves or denies, a pending
request lapses after 24 hours.

Every decision is one transaction that locks the request and checks its status after locking,
so an approval racing a denial or the expiry job has exactly one winner. Approval creates the
grants through `agents.services.create_grant`, from the moment of approval for the requested
duration, in the same transaction as the decision and its audit event.
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from access.actor import Actor
from agents import services as agent_services
from audit.services import record
from elevation.models import GrantRequest
from portal.errors import Conflict, NotFound

PENDING_FOR = dt.timedelta(hours=24)
EXPIRY_ACTOR = Actor.system("elevation requests")


def _event(req: GrantRequest, agent=None, **extra) -> dict:
    return {
        "agentId": str(req.agent_id),
        "agentName": (agent or req.agent).name,
        "permissions": list(req.permissions),
        "durationSeconds": req.duration_seconds,
        **extra,
    }


def _target(req: GrantRequest):
    return ("grant_request", str(req.pk), ", ".join(req.permissions)[:200])


def create_request(tenant, actor, agent, *, permissions, reason, duration_seconds, now=None):
    """The calling agent asks for `permissions` for `duration_seconds` once approved."""
    now = now or timezone.now()
    with transaction.atomic():
        req = GrantRequest.objects.create(
            tenant=tenant,
            agent_id=agent.pk,  # the calling agent (a row read with its key)
            permissions=list(permissions),
            reason=reason,
            duration_seconds=duration_seconds,
            created_at=now,
            expires_at=now + PENDING_FOR,
        )
        record(
            tenant, actor, "grant_request.created", target=_target(req), metadata=_event(req, agent)
        )
    return req


def _lock(tenant, req) -> GrantRequest:
    locked = (
        tenant.grant_requests.select_for_update().select_related("agent").filter(pk=req.pk).first()
    )
    if locked is None:
        raise NotFound()
    return locked


def _mark_expired(tenant, locked: GrantRequest, now) -> None:
    locked.status = GrantRequest.Status.EXPIRED
    locked.decided_at = now
    locked.save(update_fields=["status", "decided_at"])
    record(
        tenant,
        EXPIRY_ACTOR,
        "grant_request.expired",
        target=_target(locked),
        metadata=_event(locked),
    )


def _decide(tenant, actor, req, status, note, now):
    locked = _lock(tenant, req)
    if locked.lapsed(now):
        _mark_expired(tenant, locked, now)
        return locked, "This request expired unanswered after 24 hours."
    if locked.status != GrantRequest.Status.PENDING:
        return locked, f"This request is already {locked.status}."
    locked.status = status
    locked.decided_at = now
    locked.note = note or ""
    locked.decided_by_type = actor.type
    locked.decided_by_id = actor.id
    locked.decided_by_name = actor.name[:200]
    locked.save(
        update_fields=[
            "status",
            "decided_at",
            "note",
            "decided_by_type",
            "decided_by_id",
            "decided_by_name",
        ]
    )
    return locked, None


def approve_request(tenant, actor, req, *, note="", now=None) -> GrantRequest:
    """Approve: one grant per permission, from now for the requested duration."""
    now = now or timezone.now()
    with transaction.atomic():
        locked, refused = _decide(tenant, actor, req, GrantRequest.Status.APPROVED, note, now)
        if refused is None:
            until = now + dt.timedelta(seconds=locked.duration_seconds)
            grants = [
                agent_services.create_grant(
                    tenant,
                    actor,
                    locked.agent,
                    permission=permission,
                    expires_at=until,
                    reason=f"Elevation request {locked.pk}: {locked.reason}"[:500],
                )
                for permission in locked.permissions
            ]
            record(
                tenant,
                actor,
                "grant_request.approved",
                target=_target(locked),
                metadata=_event(
                    locked,
                    note=locked.note,
                    grantIds=[str(g.pk) for g in grants],
                    grantsExpireAt=until.isoformat(),
                ),
            )
    if refused:
        raise Conflict(refused)
    return locked


def deny_request(tenant, actor, req, *, note="", now=None) -> GrantRequest:
    now = now or timezone.now()
    with transaction.atomic():
        locked, refused = _decide(tenant, actor, req, GrantRequest.Status.DENIED, note, now)
        if refused is None:
            record(
                tenant,
                actor,
                "grant_request.denied",
                target=_target(locked),
                metadata=_event(locked, note=locked.note),
            )
    if refused:
        raise Conflict(refused)
    return locked


def refresh(tenant, req, now=None) -> GrantRequest:
    """The request as it stands: a pending one past its deadline is marked expired now
    (lazily, as the job would), so a poll never shows a dead request as pending."""
    now = now or timezone.now()
    if not req.lapsed(now):
        return req
    with transaction.atomic():
        locked = _lock(tenant, req)
        if locked.lapsed(now):
            _mark_expired(tenant, locked, now)
    return locked


def expire_pending(now=None) -> int:
    """Mark every lapsed pending request expired (the worker's job); returns how many."""
    now = now or timezone.now()
    count = 0
    due = GrantRequest.objects.filter(status=GrantRequest.Status.PENDING, expires_at__lte=now)
    for req in due.select_related("tenant").order_by("expires_at")[:500]:
        with transaction.atomic():
            locked = _lock(req.tenant, req)
            if locked.lapsed(now):
                _mark_expired(req.tenant, locked, now)
                count += 1
    return count
