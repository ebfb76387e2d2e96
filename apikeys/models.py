import uuid

from django.db import models
from django.utils import timezone

from access.keyformat import TYPE_PREFIXES


class ApiKey(models.Model):
    """An API key. Only its public id and a keyed digest are stored, never the secret."""

    class Kind(models.TextChoices):
        ADMIN = "admin", "Admin"
        AGENT = "agent", "Agent"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DEPRECATED = "deprecated", "Deprecated"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="api_keys")
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="keys"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100)
    # The lookup half of the key, stored in clear: `prefix` = type prefix + public_id.
    public_id = models.CharField(max_length=32, unique=True)
    digest = models.CharField(max_length=64)
    pepper_id = models.CharField(max_length=16)
    scopes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    allowed_ips = models.JSONField(null=True, blank=True)
    # An agent key's own permissions (null: all of its agent's access set); what it may do is
    # always their intersection with the agent's access set at the time of use (SPEC §15).
    permissions = models.JSONField(null=True, blank=True)
    # Uses per UTC calendar `quota_period` ("day" | "month"); no limit = no quota (SPEC §15).
    quota_limit = models.PositiveIntegerField(null=True, blank=True)
    quota_period = models.CharField(max_length=5, blank=True, default="")
    # What people need to tell keys apart (two keys named `ci`); never a secret.
    note = models.CharField(max_length=500, blank=True, default="")
    # Merged over its agent's `meta` by /keys/verify (SPEC §15); never a secret.
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_type = models.CharField(max_length=16, blank=True)
    created_by_id = models.CharField(max_length=64, blank=True)
    created_by_name = models.CharField(max_length=200, blank=True)
    deprecated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=500, blank=True, default="")
    # Set by a rotation that revokes the key, never from `revoked_reason` (text a caller
    # writes): the tokens it minted live on until they expire (SPEC §10).
    revoked_by_rotation = models.BooleanField(default=False)
    rotated_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    replaced_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="predecessors"
    )

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="apikey_tenant_time"),
            models.Index(fields=["tenant", "status"], name="apikey_tenant_status"),
            models.Index(fields=["expires_at"], name="apikey_expiry"),
        ]
        ordering = ["-created_at", "-id"]
        constraints = [
            # The database's backstop for the one-successor rule that the row lock enforces.
            models.UniqueConstraint(
                fields=["rotated_from"],
                condition=models.Q(rotated_from__isnull=False),
                name="apikey_one_successor",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    @property
    def type_prefix(self) -> str:
        return TYPE_PREFIXES[self.kind]

    @property
    def prefix(self) -> str:
        return self.type_prefix + self.public_id

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def is_live(self) -> bool:
        """Would this key authenticate (ignoring its agent)?"""
        return self.status != self.Status.REVOKED and not self.is_expired()

    @property
    def display_status(self) -> str:
        if self.status != self.Status.REVOKED and self.is_expired():
            return "expired"
        return self.status


class KeyUsage(models.Model):
    """How many authenticated requests a key made on one UTC day."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage")
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="usage"
    )
    date = models.DateField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "date"], name="usage_key_date")]
        indexes = [models.Index(fields=["agent", "date"], name="usage_agent_date")]

    def __str__(self):
        return f"{self.key_id} on {self.date}: {self.count}"
