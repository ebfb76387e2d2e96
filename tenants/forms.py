"""Validators for the members page's posts."""

from django import forms

from portal.validation import ApiForm, ChoiceField, NameField
from tenants.models import Membership

ROLE_CHOICES = Membership.Role.choices


class AddMemberForm(ApiForm):
    email = forms.EmailField(max_length=254)
    role = ChoiceField(choices=ROLE_CHOICES, required=True)
    name = NameField(required=False)


class RoleForm(ApiForm):
    role = ChoiceField(choices=ROLE_CHOICES, required=True)
