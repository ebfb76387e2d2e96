import unicodedata
import uuid

from django.db import models
from django.utils import timezone

ROLE_SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$"


def name_key(name: str) -> str:
    """The form of an agent name that uniqueness compares: NFC after Unicode case folding, so
    `Café` and `CAFÉ` (and `Straße` and `STRASSE`) clash on every database alike, where the
    database's LOWER() folds only ASCII on SQLite."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


class Role(models.Model):
    """A tenant-scoped named set of permissions, e.g. `support-agent`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="roles")
    slug = models.CharField(max_length=50)
    name = models.CharField(max_length=100)
    permissions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="role_slug_unique")]
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.slug


class Agent(models.Model):
    """A non-human identity with its own keys, access set, activity and audit trail."""

    class Type(models.TextChoices):
        AI_ASSISTANT = "ai_assistant", "AI assistant"
        SERVICE = "service", "Service"
        BOT = "bot", "Bot"
        INTEGRATION = "integration", "Integration"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=100)
    # name_key(name), kept by save(); case folding can lengthen a name (ß → ss).
    name_key = models.CharField(max_length=300, editable=False, default="")
    description = models.TextField(blank=True, default="")
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.SERVICE)
    roles = models.ManyToManyField(Role, related_name="agents", blank=True)
    permissions = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    allowed_ips = models.JSONField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # Free-form facts for the services the agent calls (SPEC §15); never a secret.
    meta = models.JSONField(default=dict, blank=True)
    # Uses per UTC calendar `quota_period` ("day" | "month"), shared by every key and token of
    # the agent (SPEC §15); no limit = no quota. Counted in the cache (`access.ratelimit`).
    quota_limit = models.PositiveIntegerField(null=True, blank=True)
    quota_period = models.CharField(max_length=5, blank=True, default="")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    created_by_type = models.CharField(max_length=16, blank=True)
    created_by_id = models.CharField(max_length=64, blank=True)
    created_by_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name_key"], name="agent_name_key_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "-created_at", "-id"], name="agent_tenant_time")]
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.name_key = name_key(self.name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "name_key"}
        super().save(*args, **kwargs)

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def can_authenticate(self) -> bool:
        return self.is_active and not self.is_expired()

    @property
    def status(self) -> str:
        """`active`, `inactive` or `expired`, shown as text in the portal."""
        if not self.is_active:
            return "inactive"
        return "expired" if self.is_expired() else "active"

    @property
    def live_key_count(self) -> int:
        """Keys that would authenticate (not revoked, not expired); uses prefetched keys."""
        return sum(1 for key in self.keys.all() if key.is_live)


class Grant(models.Model):
    """A permission bound to one agent, optionally time-boxed (just-in-time access)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="grants")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="grants")
    permission = models.CharField(max_length=200)
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    granted_by_type = models.CharField(max_length=16, blank=True)
    granted_by_id = models.CharField(max_length=64, blank=True)
    granted_by_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["agent", "expires_at"], name="grant_agent_expiry")]
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.permission} for {self.agent_id}"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())
