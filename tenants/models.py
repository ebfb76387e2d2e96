import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

TENANT_SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A portal user: a person who logs in with email and an Argon2-hashed password."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self):
        return self.email

    @property
    def display_name(self):
        return self.name or self.email


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(
        max_length=50,
        unique=True,
        validators=[RegexValidator(TENANT_SLUG_RE, "Lowercase letters, digits and hyphens.")],
    )
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        VIEWER = "viewer", "Viewer"

    # How much each role may do; a role includes everything below it.
    RANK = {Role.VIEWER: 1, Role.ADMIN: 2, Role.OWNER: 3}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique"),
        ]
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.user} in {self.tenant} as {self.role}"

    def allows(self, role: str) -> bool:
        return self.RANK[self.role] >= self.RANK[role]


class TenantPolicy(models.Model):
    """A tenant's settings, served by `/admin/settings` and the portal's settings page."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="policy")
    dormant_key_days = models.IntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"policy of {self.tenant_id}"


class ExpiryNotice(models.Model):
    """Marks an `*.expiring` / `*.expired` event as recorded, so each fires once."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    target_type = models.CharField(max_length=20)
    target_id = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    threshold = models.IntegerField()  # days ahead; 0 = expired

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_id", "expires_at", "threshold"],
                name="wh_expiry_notice_once",  # the name it was created with, in webhooks/
            )
        ]

    def __str__(self):
        return f"{self.target_type} {self.target_id} {self.threshold}"
