import uuid

from django.db import models
from django.utils import timezone

from audit.display import describe


class AppendOnlyError(Exception):
    """Audit events are immutable: they can be added, never changed or removed."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")

    _raw_delete = delete


class AuditEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # DO_NOTHING plus the guards below: the trail outlives anything it mentions.
    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.DO_NOTHING,
        related_name="audit_events",
        db_constraint=True,
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=64)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_name = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-occurred_at", "-id"], name="audit_tenant_time"),
            models.Index(fields=["tenant", "action", "-occurred_at"], name="audit_tenant_action"),
            models.Index(fields=["tenant", "actor_id"], name="audit_tenant_actor"),
            models.Index(fields=["tenant", "target_id"], name="audit_tenant_target"),
        ]

    def __str__(self):
        return f"{self.action} by {self.actor_type}:{self.actor_name}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")

    @property
    def metadata_items(self) -> list[tuple[str, str]]:
        """(label, text) pairs for people: durations, times and lists as text (audit.display)."""
        return describe(self.metadata)
