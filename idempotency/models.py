from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` a credential sent to a creating endpoint (SPEC §15), and the
    answer it got, without its secret. `status_code` is null while the first request runs."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    # "key:<api key id>" or "user:<user id>": keys are scoped to the calling credential.
    credential = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "credential", "key"], name="idempotency_key_unique"
            )
        ]

    def __str__(self):
        return f"{self.credential} {self.key}"
