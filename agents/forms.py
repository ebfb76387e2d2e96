"""One validator per body for agents, roles and grants, shared by the JSON API and form posts."""

import re

from django import forms
from django.core.exceptions import ValidationError

from agents.models import ROLE_SLUG_RE, Agent
from apikeys.forms import (
    SEARCH_MAX,
    MintKeyForm,
    QuotaField,
    RotateForm,
    key_permissions_field,
    permissions_field,
    validate_permission,
)
from portal.errors import Invalid
from portal.validation import (
    ApiForm,
    BoolField,
    ChoiceField,
    DateTimeField,
    ExpiryFormMixin,
    FutureDateTimeField,
    IntField,
    IpListField,
    JsonTyped,
    ListField,
    MetaField,
    NameField,
    StrField,
    expires_in_field,
)

_SLUG = re.compile(ROLE_SLUG_RE)

# Portal choices; the API takes any number of seconds (expiresIn) or a timestamp (expiresAt).
AGENT_EXPIRY_CHOICES = [
    ("", "Never"),
    (str(7 * 86400), "7 days"),
    (str(30 * 86400), "30 days"),
    (str(90 * 86400), "90 days"),
    (str(365 * 86400), "365 days"),
]
GRANT_DURATION_CHOICES = [
    (str(60), "1 minute"),
    (str(15 * 60), "15 minutes"),
    (str(3600), "1 hour"),
    (str(8 * 3600), "8 hours"),
    (str(86400), "24 hours"),
    (str(7 * 86400), "7 days"),
    ("", "No expiry"),
]


def validate_role_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValidationError(
            f"'{value[:60]}' is not a role slug (lowercase letters, digits and hyphens)."
        )
    return value


class AgentFieldsMixin(forms.Form):
    """The agent's editable fields, as named in the JSON (SPEC §5)."""

    description = StrField(max_length=2000)
    type = ChoiceField(choices=Agent.Type.choices)
    roles = ListField(item_validator=validate_role_slug)
    permissions = permissions_field()
    allowedIps = IpListField()
    expiresAt = FutureDateTimeField()
    expiresIn = expires_in_field()
    rateLimitPerMinute = IntField(min_value=1, max_value=1_000_000)
    meta = MetaField()
    quota = QuotaField()


class CreateAgentForm(ExpiryFormMixin, AgentFieldsMixin, ApiForm):
    name = NameField()
    # The first key's own permissions (SPEC §15); null: all of the agent's access set.
    keyPermissions = key_permissions_field()


class UpdateAgentForm(ExpiryFormMixin, AgentFieldsMixin, ApiForm):
    """PUT and PATCH: only the fields sent change; null clears a nullable field."""

    name = NameField(required=False)
    isActive = BoolField(required=False)
    # An expired agent's form sends its old expiry back: only a *changed* expiry must be in the
    # future, which `agents.services.update_agent` checks against the stored one.
    expiresAt = DateTimeField()

    def clean(self):
        cleaned = super().clean()
        if "name" in self.provided and not cleaned.get("name") and "name" not in self.errors:
            self.add_error("name", "This field may not be blank.")
        if "type" in self.provided and not cleaned.get("type") and "type" not in self.errors:
            self.add_error("type", "This field may not be blank.")
        if "isActive" in self.provided and cleaned.get("isActive") is None:
            self.add_error("isActive", "Must be true or false.")
        return cleaned


class MintAgentKeyForm(MintKeyForm):
    """An admin key's body without scopes: an agent key carries its agent's access, narrowed
    to its own `permissions` if given (SPEC §15)."""

    scopes = None
    permissions = key_permissions_field()


class UuidField(JsonTyped, forms.UUIDField):
    """A UUID sent as a JSON string (`[]` or `{}` are not "no key": Django reads them as empty)."""


class RotateAgentKeyForm(RotateForm):
    keyId = UuidField(required=False)


class ConfirmByNameMixin(ApiForm):
    """Portal forms of the actions that act on a whole agent (delete it, rotate all its keys):
    the admin types the agent's name, as GitHub asks for a repository's. The JSON API keeps the
    SPEC's bodies and asks nothing more."""

    confirm = StrField(max_length=200)

    def check_confirmation(self, name: str) -> None:
        if (self.cleaned_data.get("confirm") or "").strip() != name:
            raise Invalid({"confirm": [f"Type the agent's name, “{name}”, to confirm."]})


class PortalRotateAllForm(ConfirmByNameMixin, RotateAgentKeyForm):
    pass


class PortalDeleteAgentForm(ConfirmByNameMixin):
    pass


class GrantForm(ExpiryFormMixin, ApiForm):
    permission = StrField(max_length=200, required=True)
    expiresAt = FutureDateTimeField()
    expiresIn = expires_in_field()
    reason = StrField(max_length=500)

    def clean_permission(self):
        return validate_permission(self.cleaned_data["permission"].strip())


class RoleForm(ApiForm):
    slug = StrField(max_length=50)
    name = NameField()
    permissions = permissions_field()

    def clean_slug(self):
        slug = (self.cleaned_data.get("slug") or "").strip()
        return validate_role_slug(slug) if slug else ""


class UpdateRoleForm(RoleForm):
    name = NameField(required=False)

    def clean(self):
        cleaned = super().clean()
        for field in ("slug", "name"):
            if field in self.provided and not cleaned.get(field) and field not in self.errors:
                self.add_error(field, "This field may not be blank.")
        return cleaned


class AgentFilterForm(forms.Form):
    q = StrField(max_length=SEARCH_MAX)
    type = ChoiceField(choices=Agent.Type.choices)
    isActive = BoolField(required=False)

    def clean_isActive(self):
        # NullBooleanField reads anything it doesn't know as "no filter": `?isActive=maybe`
        # would list every agent instead of answering 400.
        raw = self.data.get("isActive")
        if raw is not None and str(raw).lower() not in ("true", "false", "1", "0"):
            raise ValidationError("Must be true or false.")
        return self.cleaned_data["isActive"]
