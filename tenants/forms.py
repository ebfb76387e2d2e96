"""Validators for the members page's posts, the invitation page and the tenant settings."""

from django import forms

from portal.validation import ApiForm, BoolField, ChoiceField, IntField, NameField
from tenants.models import Membership

ROLE_CHOICES = Membership.Role.choices


class InviteForm(ApiForm):
    email = forms.EmailField(max_length=254)
    role = ChoiceField(choices=ROLE_CHOICES, required=True)


class AcceptInvitationForm(ApiForm):
    name = NameField(required=False)
    password1 = forms.CharField(max_length=4096, strip=False, required=False)
    password2 = forms.CharField(max_length=4096, strip=False, required=False)


class RoleForm(ApiForm):
    role = ChoiceField(choices=ROLE_CHOICES, required=True)


class SettingsForm(ApiForm):
    dormantKeyDays = IntField(min_value=1, max_value=3650)
    requireMfa = BoolField()
    ssoOnly = BoolField()
