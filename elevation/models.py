import uuid

from django.db import models
from django.utils import timezone


class GrantRequest(models.Model):
    """An agent asking a human for permissions for a while (SPEC §15, elevation requests)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="grant_requests"
    )
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, related_name="grant_requests"
    )
    permissions = models.JSONField(default=list)
    reason = models.CharField(max_length=500)
    duration_seconds = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    # When a pending request lapses unanswered (created_at + 24 h).
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_type = models.CharField(max_length=16, blank=True)
    decided_by_id = models.CharField(max_length=64, blank=True)
    decided_by_name = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "-created_at"], name="grantreq_tenant_status"),
            models.Index(fields=["status", "expires_at"], name="grantreq_pending_expiry"),
        ]

    def __str__(self):
        return f"{self.agent_id}: {', '.join(self.permissions)} ({self.status})"

    def lapsed(self, now=None) -> bool:
        """Pending past its deadline: expired, whether or not the job has marked it yet."""
        return self.status == self.Status.PENDING and self.expires_at <= (now or timezone.now())
