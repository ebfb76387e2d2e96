"""One validator per body for elevation requests and their decisions."""

from django import forms

from agents.forms import validate_permission
from elevation.models import GrantRequest
from portal.validation import ApiForm, ChoiceField, IntField, ListField, StrField

MIN_DURATION, MAX_DURATION = 60, 86400


class GrantRequestForm(ApiForm):
    permissions = ListField(required=True, item_validator=validate_permission, max_items=20)
    reason = StrField(required=True, max_length=500)
    durationSeconds = IntField(required=True, min_value=MIN_DURATION, max_value=MAX_DURATION)

    def clean_permissions(self):
        value = self.cleaned_data.get("permissions")
        if not value:
            raise forms.ValidationError("List from 1 to 20 permissions.")
        return value

    def clean_reason(self):
        value = (self.cleaned_data.get("reason") or "").strip()
        if not value:
            raise forms.ValidationError("Say why the agent needs these permissions.")
        return value


class DecisionForm(ApiForm):
    note = StrField(max_length=500)


class GrantRequestFilterForm(forms.Form):
    status = ChoiceField(choices=GrantRequest.Status.choices)
