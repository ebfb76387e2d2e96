"""OAuth 2.0 state (SPEC §10): signing keys, token families (one per client-credentials grant),
the access tokens and refresh tokens issued in them.

A family is what `revoke-tokens`, a refresh-token replay and a revoked refresh token end: its
`revoked_at` is read by the one query that checks an access token (`access.tokens`).
"""

import uuid

from django.db import models
from django.utils import timezone


class SigningKey(models.Model):
    """An RS256 key of the deployment; the private JWK is stored Fernet-encrypted."""

    kid = models.CharField(max_length=64, primary_key=True)  # RFC 7638 thumbprint
    public_jwk = models.JSONField()
    private_jwk_encrypted = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    # Signs tokens from this moment (a staged rotation publishes a key before it signs).
    signs_from = models.DateTimeField(default=timezone.now)
    # Left out of the JWKS after this moment (when every token it signed has expired).
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-signs_from", "-created_at"]

    def __str__(self):
        return self.kid


class TokenFamily(models.Model):
    """One grant: the access and refresh tokens descended from one client-credentials request."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="+")
    key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="+")
    scope = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["agent", "revoked_at"], name="oauth_family_agent")]

    def __str__(self):
        return str(self.pk)


class AccessToken(models.Model):
    """An issued JWT, by its `jti`: what revocation and the live check look up."""

    jti = models.UUIDField(primary_key=True)
    family = models.ForeignKey(TokenFamily, on_delete=models.CASCADE, related_name="access")
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["issued_at"], name="oauth_access_issued")]

    def __str__(self):
        return str(self.jti)


class RefreshToken(models.Model):
    """A refresh token: public id in clear, the whole token only as a keyed digest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    family = models.ForeignKey(TokenFamily, on_delete=models.CASCADE, related_name="refresh")
    public_id = models.CharField(max_length=32, unique=True)
    digest = models.CharField(max_length=64)
    pepper_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.public_id
