"""A lone surrogate or a NUL in any string field of any body (or query filter) is a 400 from the
one shared validator, for JSON and form posts alike; never a 500 (SPEC §4)."""

import pytest
from django.test import Client, RequestFactory

from agents.forms import (
    AgentFilterForm,
    CreateAgentForm,
    GrantForm,
    MintAgentKeyForm,
    RoleForm,
    RotateAgentKeyForm,
    UpdateAgentForm,
    UpdateRoleForm,
)
from agents.models import Agent
from apikeys.forms import KeyFilterForm, MintKeyForm, RevokeForm, RotateForm
from audit.forms import AuditFilterForm, ExportForm
from portal.errors import Invalid
from portal.validation import UNSTORABLE_MESSAGE, parse_query
from tenants.forms import AcceptInvitationForm, InviteForm
from tenants.forms import RoleForm as MemberRoleForm

# The /keys/verify body has no form: tests/verify/test_verify_access.py sends it these values.
BODY_FORMS = [
    CreateAgentForm,
    UpdateAgentForm,
    MintAgentKeyForm,
    RotateAgentKeyForm,
    GrantForm,
    RoleForm,
    UpdateRoleForm,
    MintKeyForm,
    RotateForm,
    RevokeForm,
    InviteForm,
    AcceptInvitationForm,
    MemberRoleForm,
]
FILTER_FORMS = [AgentFilterForm, KeyFilterForm, AuditFilterForm, ExportForm]
BAD = ["x\udfff", "\ud800", "a\x00b"]
ADMIN = "/t/acme-corp/api/v1/admin"


def every_field(forms):
    return [(form, name) for form in forms for name in form.base_fields]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(("form_class", "field"), every_field(BODY_FORMS))
def test_every_json_body_field_refuses_unstorable_text(form_class, field, bad):
    for value in (bad, [bad], {"k": bad}):
        with pytest.raises(Invalid) as caught:
            form_class({field: value}).validate()
        assert caught.value.details[field] == [UNSTORABLE_MESSAGE]


@pytest.mark.parametrize(("form_class", "field"), every_field(BODY_FORMS))
def test_every_form_post_field_refuses_a_nul(form_class, field):
    data = RequestFactory().post("/", {field: "a\x00b"}).POST
    with pytest.raises(Invalid) as caught:
        form_class(data).validate()
    assert caught.value.details[field] == [UNSTORABLE_MESSAGE]


@pytest.mark.parametrize(("form_class", "field"), every_field(FILTER_FORMS))
def test_every_query_filter_refuses_a_nul(form_class, field):
    request = RequestFactory().get("/", {field: "a\x00b"})
    with pytest.raises(Invalid) as caught:
        parse_query(request, form_class)
    assert caught.value.details[field] == [UNSTORABLE_MESSAGE]


def test_an_unknown_field_named_with_a_lone_surrogate_is_reported_readably():
    with pytest.raises(Invalid) as caught:
        CreateAgentForm({"name": "ok", "x\udfff": 1}).validate()
    assert caught.value.details == {"x\ufffd": [UNSTORABLE_MESSAGE]}


# Through HTTP, on whichever database this run uses


@pytest.mark.django_db
@pytest.mark.parametrize("bad", BAD)
def test_a_lone_surrogate_or_nul_in_an_agent_description_is_a_400(api, bad):
    response = api.post(f"{ADMIN}/agents", {"name": "s", "description": bad})
    assert response.status_code == 400
    assert response.json()["details"] == {"description": [UNSTORABLE_MESSAGE]}
    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_raw_json_with_an_escaped_lone_surrogate_is_a_400(admin_key):
    response = Client().post(
        f"{ADMIN}/roles",
        b'{"name": "r", "permissions": ["docs:\\udfff"]}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin_key[1]}"},
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"permissions": [UNSTORABLE_MESSAGE]}


@pytest.mark.django_db
def test_a_nul_in_a_portal_form_post_is_a_400_not_a_500(owner_client):
    response = owner_client.post(
        "/t/acme-corp/portal/agents", {"name": "portal-bot", "description": "a\x00b"}
    )
    assert response.status_code == 400
    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_an_audit_filter_is_a_400(api):
    response = api.get("/t/acme-corp/api/v1/admin/audit-logs", {"action": "a\x00b"})
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_nul_in_the_login_form_is_a_400(owner):
    response = Client().post("/login", {"login": "owner@acme.test\x00", "password": "x"})
    assert response.status_code == 400
