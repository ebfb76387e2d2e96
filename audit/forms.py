"""The one filter form behind the audit log page, `GET /audit-logs` and the export."""

import datetime as dt

from django import forms
from django.utils.dateparse import parse_date

from portal.validation import ChoiceField, DateTimeField, StrField

# The actions of SPEC §5, for the portal's filter menu (the filter itself takes any string).
ACTIONS = {
    "api_key": ("created", "rotated", "deprecated", "activated", "revoked", "deleted", "rejected"),
    "agent": ("created", "updated", "deleted", "key_rotated", "activated", "deactivated"),
    "grant": ("created", "revoked"),
    "role": ("created", "updated", "deleted"),
    "member": ("added", "removed", "role_changed"),
    "user": ("login", "login_failed", "logout"),
}
ACTION_CHOICES = [
    (group, [f"{group}.{verb}" for verb in verbs]) for group, verbs in ACTIONS.items()
]


class DateBoundField(DateTimeField):
    """An ISO 8601 timestamp, or a date alone: the start of that day (UTC), or with
    `end_of_day` its last instant, so `until=2026-03-01` includes all of March 1st."""

    def __init__(self, *, end_of_day=False, **kwargs):
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def to_python(self, value):
        text = "" if value is None else str(value).strip()
        if len(text) == 10:
            try:
                day = parse_date(text)
            except ValueError:
                day = None
            if day is None:
                raise forms.ValidationError("Not a date (YYYY-MM-DD) or ISO 8601 timestamp.")
            start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            return start + dt.timedelta(days=1, microseconds=-1) if self.end_of_day else start
        return super().to_python(value)


class AuditFilterForm(forms.Form):
    action = StrField(max_length=64)
    actorId = StrField(max_length=200)
    targetId = StrField(max_length=200)
    since = DateBoundField()
    until = DateBoundField(end_of_day=True)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "Must not be before since.")
        return cleaned


class ExportForm(AuditFilterForm):
    format = ChoiceField(
        choices=[("csv", "CSV"), ("jsonl", "JSON Lines")],
        required=True,
        error_messages={"invalid_choice": "Use format=csv or format=jsonl."},
    )
