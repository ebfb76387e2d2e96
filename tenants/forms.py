"""Validators for the login form, the members page's posts and the tenant settings."""

from django import forms

from portal.validation import ApiForm, ChoiceField, IntField, NameField, StrField
from tenants.models import Membership

ROLE_CHOICES = Membership.Role.choices


class LoginForm(ApiForm):
    email = StrField(max_length=254, required=True, strip=True)
    password = forms.CharField(max_length=4096, strip=False)
    next = StrField(max_length=2000)


class AddMemberForm(ApiForm):
    email = forms.EmailField(max_length=254)
    role = ChoiceField(choices=ROLE_CHOICES, required=True)
    name = NameField(required=False)


class RoleForm(ApiForm):
    role = ChoiceField(choices=ROLE_CHOICES, required=True)


class SettingsForm(ApiForm):
    dormantKeyDays = IntField(min_value=1, max_value=3650)
