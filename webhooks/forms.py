"""One validator per body, shared by the JSON API and form posts."""

from apikeys.services import MAX_GRACE_SECONDS
from portal.validation import ApiForm, BoolField, IntField, ListField, StrField
from webhooks.events import EVENT_TYPES


class WebhookForm(ApiForm):
    url = StrField(max_length=2000, required=True)
    description = StrField(max_length=500)
    eventTypes = ListField(choices=list(EVENT_TYPES))


class WebhookUpdateForm(ApiForm):
    url = StrField(max_length=2000)
    description = StrField(max_length=500)
    eventTypes = ListField(choices=list(EVENT_TYPES))
    isActive = BoolField(required=False)


class RotateSecretForm(ApiForm):
    gracePeriod = IntField(min_value=0, max_value=MAX_GRACE_SECONDS)


class EmptyForm(ApiForm):
    """Actions that take no body: any field sent is an unknown field."""
