"""One validator per body, shared by the JSON API and the portal's form posts."""

from django import forms
from django.core.exceptions import ValidationError

from access.rules import MAX_PERMISSIONS, is_permission
from apikeys.models import ApiKey
from apikeys.services import ADMIN_SCOPES, MAX_GRACE_SECONDS
from portal.errors import Invalid
from portal.validation import (
    ApiForm,
    ChoiceField,
    ExpiryFormMixin,
    FutureDateTimeField,
    IntField,
    IpListField,
    JsonTyped,
    ListField,
    ListWidget,
    MetaField,
    NameField,
    StrField,
    expires_in_field,
)

EXPIRY_CHOICES = [
    ("", "Never"),
    (str(30 * 86400), "30 days"),
    (str(90 * 86400), "90 days"),
    (str(365 * 86400), "365 days"),
]
# The portal's "Create API key" form: 30 days first (the default), no expiry last and named
# for what it is.
KEY_FORM_EXPIRY_CHOICES = [
    (str(30 * 86400), "30 days"),
    (str(90 * 86400), "90 days"),
    (str(365 * 86400), "365 days"),
    ("", "No expiry (not recommended)"),
]
DEFAULT_KEY_EXPIRY = str(30 * 86400)


def portal_scopes(post, scopes):
    """The scopes a portal mint form asks for. Its `access` choice makes full admin explicit:
    `full` is every scope (none listed); `scoped` with nothing ticked is refused, never a
    silent full-admin key. (A post without `access`, like the JSON API, keeps SPEC's rule.)"""
    access = post.get("access")
    if access == "full":
        return []
    if access == "scoped" and not scopes:
        raise Invalid({"scopes": ["Tick at least one scope, or choose full admin."]})
    return scopes or []


GRACE_CHOICES = [
    ("0", "Immediately"),
    (str(3600), "1 hour"),
    (str(86400), "24 hours"),
    (str(7 * 86400), "7 days"),
]
# What the portal's rotate forms start on: one click must not cut off every client at once.
# (The JSON API's default stays 0, as the SPEC says.)
DEFAULT_GRACE = str(86400)


def validate_permission(value: str) -> str:
    if not is_permission(value):
        raise ValidationError(
            f"'{value[:60]}' is not a permission of the form action:resource (e.g. read:reports)."
        )
    return value


def permissions_field(**kwargs):
    return ListField(item_validator=validate_permission, max_items=MAX_PERMISSIONS, **kwargs)


class NullableListWidget(ListWidget):
    """A blank portal box is null (a key's permissions: all of its agent's), as in JSON."""

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        return None if value == [] and hasattr(data, "getlist") else value


def key_permissions_field():
    """An agent key's own permissions: a list, or null for all of its agent's (SPEC §15)."""
    return permissions_field(widget=NullableListWidget)


QUOTA_PERIODS = ("day", "month")
MAX_QUOTA = 1_000_000_000


class QuotaWidget(forms.Widget):
    """A portal form's `quotaLimit` and `quotaPeriod` inputs as one quota (blank limit: none)."""

    parts = ("quotaLimit", "quotaPeriod")

    def value_from_datadict(self, data, files, name):
        if not hasattr(data, "getlist"):
            return data.get(name)
        limit = (data.get("quotaLimit") or "").strip()
        if not limit:
            return None
        return {
            "limit": int(limit) if limit.isdigit() else limit,
            "period": data.get("quotaPeriod"),
        }


class QuotaField(JsonTyped, forms.Field):
    """`quota`: `{"limit": int ≥ 1, "period": "day" | "month"}` or null (SPEC §15)."""

    widget = QuotaWidget
    json_types = (dict,)
    json_type_name = 'an object {"limit": int, "period": "day"|"month"} or null'

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) != {"limit", "period"}:
            raise ValidationError('Must be {"limit": int, "period": "day"|"month"} or null.')
        limit, period = value["limit"], value["period"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_QUOTA:
            raise ValidationError(f"The limit must be a whole number from 1 to {MAX_QUOTA}.")
        if period not in QUOTA_PERIODS:
            raise ValidationError('The period must be "day" or "month".')
        return {"limit": limit, "period": period}


def quota_changes(quota) -> dict:
    """The service keywords for a cleaned `quota` (None clears it)."""
    if quota is None:
        return {"quota_limit": None, "quota_period": ""}
    return {"quota_limit": quota["limit"], "quota_period": quota["period"]}


class MintKeyForm(ExpiryFormMixin, ApiForm):
    name = NameField()
    scopes = ListField(choices=ADMIN_SCOPES)
    expiresAt = FutureDateTimeField()
    expiresIn = expires_in_field()
    rateLimitPerMinute = IntField(min_value=1, max_value=1_000_000)
    allowedIps = IpListField()
    meta = MetaField()
    quota = QuotaField()


class RotateForm(ApiForm):
    gracePeriod = IntField(min_value=0, max_value=MAX_GRACE_SECONDS)


class RevokeForm(ApiForm):
    reason = StrField(max_length=500)


BULK_ACTIONS = ("deprecate", "activate", "revoke", "delete")
MAX_BULK_IDS = 100


class BulkForm(ApiForm):
    action = ChoiceField(required=True, choices=[(a, a) for a in BULK_ACTIONS])
    ids = ListField(required=True, max_items=MAX_BULK_IDS)
    reason = StrField(max_length=500)


class EmptyForm(ApiForm):
    """Actions that take no body: any field sent is an unknown field."""


# How long a search may be (`?q=`): longer than any name, prefix or note worth typing.
SEARCH_MAX = 100


class UpdateKeyForm(ApiForm):
    """PATCH /api-keys/<id> and the key page's form: only the fields sent change; null clears
    the rate limit and the allowlist."""

    name = NameField(required=False)
    note = StrField(max_length=500)
    rateLimitPerMinute = IntField(min_value=1, max_value=1_000_000)
    allowedIps = IpListField()
    meta = MetaField()
    quota = QuotaField()
    # An agent key's own permissions; null: all of its agent's access set (SPEC §15).
    permissions = key_permissions_field()

    def clean(self):
        cleaned = super().clean()
        if "name" in self.provided and not cleaned.get("name") and "name" not in self.errors:
            self.add_error("name", "This field may not be blank.")
        return cleaned


class KeyFilterForm(forms.Form):
    q = StrField(max_length=SEARCH_MAX)
    status = ChoiceField(choices=[(s, s) for s in [*ApiKey.Status.values, "expired"]])
    kind = ChoiceField(choices=ApiKey.Kind.choices)
    agentId = forms.UUIDField(required=False)
