"""Scheduled rules for agents (run by `agents/jobs.py`): their expiry notices."""

from django.utils import timezone

from agents.models import Agent
from tenants.notices import expiry_notices as notices_for


def expiry_notices(*, now=None) -> int:
    """`agent.expiring` / `agent.expired` for active agents."""
    return notices_for("agent", Agent.objects.filter(is_active=True), now=now or timezone.now())
