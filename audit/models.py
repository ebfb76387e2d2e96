import uuid

from django.db import models, router, transaction
from django.utils import timezone

from audit import chain
from audit.display import describe


class AppendOnlyError(Exception):
    """Audit events are immutable: they can be added, never changed or removed."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")

    _raw_delete = delete

    def bulk_create(self, objs, *args, **kwargs):
        # bulk_create skips save(), so its rows would carry no place in the chain.
        raise AppendOnlyError("audit events are chained one by one: use audit.services.record")


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
    # The tenant's chain (audit.chain): position from 1, the previous event's hash, this one's.
    seq = models.PositiveBigIntegerField(editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-occurred_at", "-id"], name="audit_tenant_time"),
            models.Index(fields=["tenant", "action", "-occurred_at"], name="audit_tenant_action"),
            models.Index(fields=["tenant", "actor_id"], name="audit_tenant_actor"),
            models.Index(fields=["tenant", "target_id"], name="audit_tenant_target"),
        ]
        constraints = [
            # Also the chain's order and its head's index; two events in one place is a fork.
            models.UniqueConstraint(fields=["tenant", "seq"], name="audit_tenant_seq"),
        ]

    def __str__(self):
        return f"{self.action} by {self.actor_type}:{self.actor_name}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        kwargs["force_insert"] = True
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        # The caller's transaction if there is one: the event, its place in the chain and the
        # change it records commit together, and the chain's head stays locked until then.
        with transaction.atomic(using=using, savepoint=False):
            self._link(using)
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")

    def _link(self, using: str) -> None:
        """Take the next place in the tenant's chain: lock it, then read its head (one small
        query, plus the lock's on PostgreSQL)."""
        # Hashed as it will be read back: the database stores IPv6 addresses normalised.
        self.ip = self._meta.get_field("ip").to_python(self.ip)
        chain.lock_head(self.tenant_id, using)
        head = (
            type(self)
            .objects.using(using)
            .filter(tenant_id=self.tenant_id)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        self.seq, self.prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS)
        self.hash = chain.digest(self.prev_hash, self, self.tenant.slug)

    @property
    def metadata_items(self) -> list[tuple[str, str]]:
        """(label, text) pairs for people: durations, times and lists as text (audit.display)."""
        return describe(self.metadata)
