"""The members page: list (everyone), add / change role / remove (owners only), the last-owner
rule, and the four ways (page, HTMX fragment, no JSON mount, another tenant → 404)."""

import re
import threading

import pytest
from django.db import connection
from django.test import Client

from access.actor import Actor
from audit.models import AuditEvent
from portal.errors import Conflict
from tenants import services
from tenants.models import Membership, User
from tests.conftest import HTMX, requires_postgres

pytestmark = pytest.mark.django_db

PAGE = "/t/acme-corp/portal/settings/members"
SHELL = Actor.system("tests")


def member_emails(response):
    return re.findall(r'class="member-row" data-email="([^"]+)"', response.content.decode())


def membership(tenant, email):
    return tenant.memberships.select_related("user").get(user__email=email)


def action_url(m, action):
    return f"{PAGE}/{m.pk}/{action}"


# --- list, four ways ---------------------------------------------------------------------


def test_members_page_lists_email_name_role_and_joined(owner_client, owner, viewer):
    owner.name = "Olive Owner"
    owner.save()
    response = owner_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert member_emails(response) == ["owner@acme.test", "viewer@acme.test"]
    assert "Olive Owner" in html
    assert 'class="role role-viewer">Viewer<' in html
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT", html)


def test_members_fragment_for_htmx_is_the_members_section_only(owner_client, viewer):
    response = owner_client.get(PAGE, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="members">')
    assert member_emails(response) == ["owner@acme.test", "viewer@acme.test"]


def test_members_are_not_served_on_the_json_api(api, owner):
    response = api.get("/t/acme-corp/api/v1/admin/members")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_members_page_of_another_tenant_is_404(outsider_client, owner):
    assert outsider_client.get(PAGE).status_code == 404
    assert outsider_client.get(PAGE, headers=HTMX).status_code == 404


def test_posting_to_another_tenants_members_is_404_and_changes_nothing(outsider_client, owner):
    response = outsider_client.post(PAGE, {"email": "x@globex.test", "role": "owner"})
    assert response.status_code == 404
    m = Membership.objects.get(user=owner)
    assert outsider_client.post(action_url(m, "remove")).status_code == 404
    assert Membership.objects.filter(pk=m.pk).exists()
    assert not User.objects.filter(email="x@globex.test").exists()


def test_a_membership_of_another_tenant_is_404_even_for_an_owner(owner_client, outsider):
    foreign = Membership.objects.get(user=outsider)
    assert owner_client.post(action_url(foreign, "remove")).status_code == 404
    assert owner_client.post(f"{PAGE}/not-a-uuid/remove").status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_anonymous_visitor_is_sent_to_login(db, tenant):
    response = Client().get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/login")


# --- who sees actions --------------------------------------------------------------------


def test_owner_sees_the_add_form_and_row_actions(owner_client, viewer):
    html = owner_client.get(PAGE).content.decode()
    assert ">Send invitation</button>" in html
    assert ">Change role</button>" in html
    assert "<summary>Remove…</summary>" in html


@pytest.mark.parametrize("client_fixture", ["admin_client", "viewer_client"])
def test_admins_and_viewers_see_the_list_without_actions(request, client_fixture, owner):
    client = request.getfixturevalue(client_fixture)
    response = client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "owner@acme.test" in member_emails(response)
    assert "Send invitation" not in html
    assert "Change role" not in html
    assert "Remove" not in html
    assert '<form method="post" action="/t/acme-corp/portal/settings/members' not in html


@pytest.mark.parametrize("client_fixture", ["admin_client", "viewer_client"])
def test_admins_and_viewers_get_403_when_they_post(request, client_fixture, tenant, owner):
    client = request.getfixturevalue(client_fixture)
    m = membership(tenant, "owner@acme.test")
    assert client.post(PAGE, {"email": "new@acme.test", "role": "owner"}).status_code == 403
    assert client.post(action_url(m, "role"), {"role": "viewer"}).status_code == 403
    assert client.post(action_url(m, "remove")).status_code == 403
    assert (
        client.post(PAGE, {"email": "n@acme.test", "role": "owner"}, headers=HTMX).status_code
        == 403
    )
    assert not User.objects.filter(email__in=["new@acme.test", "n@acme.test"]).exists()
    assert membership(tenant, "owner@acme.test").role == "owner"
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


# --- invite (the invitation itself: tests/tenants/test_invitations.py) -------------------


def test_inviting_with_htmx_returns_the_members_fragment_with_the_pending_row(owner_client):
    response = owner_client.post(PAGE, {"email": "h@acme.test", "role": "admin"}, headers=HTMX)
    assert response.status_code == 201
    html = response.content.decode()
    assert "<html" not in html
    assert 'class="invitation-row" data-email="h@acme.test"' in html
    assert '<div id="flash" aria-live="polite" hx-swap-oob="true">' in html
    assert "An invitation to join as admin was sent to h@acme.test." in html


def test_adding_someone_already_a_member_is_409(owner_client, tenant, viewer):
    response = owner_client.post(PAGE, {"email": "viewer@acme.test", "role": "owner"})
    assert response.status_code == 409
    assert "already a member" in response.content.decode()
    assert membership(tenant, "viewer@acme.test").role == "viewer"


@pytest.mark.parametrize(
    "data, field",
    [
        ({"email": "not-an-email", "role": "viewer"}, "email"),
        ({"email": "a@acme.test", "role": "emperor"}, "role"),
        ({"email": "a@acme.test"}, "role"),
        ({"email": "a@acme.test", "role": "viewer", "isStaff": "1"}, "isStaff"),
    ],
)
def test_bad_invite_form_is_400_shows_the_page_again_and_changes_nothing(
    owner_client, owner, tenant, data, field
):
    response = owner_client.post(PAGE, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" in html and f'<span class="field">{field}</span>' in html
    assert not tenant.invitations.exists()
    assert not AuditEvent.objects.filter(action="member.invited").exists()


def test_bad_invite_form_with_htmx_answers_an_error_into_flash(owner_client, owner):
    response = owner_client.post(PAGE, {"email": "nope", "role": "viewer"}, headers=HTMX)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"


# --- change role -------------------------------------------------------------------------


def test_owner_changes_a_role_and_it_is_audited(owner_client, tenant, viewer):
    m = membership(tenant, "viewer@acme.test")
    response = owner_client.post(action_url(m, "role"), {"role": "admin"})
    assert response.status_code == 303
    assert response["Location"] == PAGE
    assert membership(tenant, "viewer@acme.test").role == "admin"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.metadata == {
        "email": "viewer@acme.test",
        "role": "admin",
        "previousRole": "viewer",
    }
    assert "viewer@acme.test is now admin." in owner_client.get(PAGE).content.decode()


def test_changing_a_role_with_htmx_returns_the_updated_fragment(owner_client, tenant, viewer):
    m = membership(tenant, "viewer@acme.test")
    response = owner_client.post(action_url(m, "role"), {"role": "owner"}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert f'id="member-{m.pk}"' in html
    assert 'class="role role-owner">Owner<' in html
    assert 'hx-swap-oob="true"' in html and "viewer@acme.test is now owner." in html


def test_setting_the_same_role_again_changes_and_records_nothing(owner_client, tenant, viewer):
    m = membership(tenant, "viewer@acme.test")
    assert owner_client.post(action_url(m, "role"), {"role": "viewer"}).status_code == 303
    assert not AuditEvent.objects.filter(action="member.role_changed").exists()


def test_an_unknown_action_is_404(owner_client, tenant, viewer):
    m = membership(tenant, "viewer@acme.test")
    assert owner_client.post(action_url(m, "promote"), {"role": "owner"}).status_code == 404


# --- remove ------------------------------------------------------------------------------


def test_owner_removes_a_member_who_then_loses_access(owner_client, tenant, viewer, viewer_client):
    m = membership(tenant, "viewer@acme.test")
    response = owner_client.post(action_url(m, "remove"))
    assert response.status_code == 303
    assert not tenant.memberships.filter(user=viewer).exists()
    assert User.objects.filter(pk=viewer.pk).exists()  # the account stays
    assert viewer_client.get("/t/acme-corp/portal/").status_code == 404
    event = AuditEvent.objects.get(action="member.removed")
    assert event.metadata == {"email": "viewer@acme.test", "role": "viewer"}
    assert event.target_id == str(viewer.pk)


def test_removing_with_htmx_returns_the_fragment_without_the_row(owner_client, tenant, viewer):
    m = membership(tenant, "viewer@acme.test")
    response = owner_client.post(action_url(m, "remove"), headers=HTMX)
    assert response.status_code == 200
    assert member_emails(response) == ["owner@acme.test"]


def test_an_owner_who_removes_themselves_goes_back_to_the_picker(
    owner_client, tenant, owner, admin
):
    services.change_role(tenant, SHELL, membership(tenant, "admin@acme.test"), role="owner")
    response = owner_client.post(action_url(membership(tenant, "owner@acme.test"), "remove"))
    assert response.status_code == 303 and response["Location"] == "/"
    response = owner_client.post(
        f"{PAGE}/{membership(tenant, 'admin@acme.test').pk}/remove", headers=HTMX
    )
    assert response.status_code == 404  # no longer a member


# --- the last owner ----------------------------------------------------------------------


def test_the_last_owner_cannot_be_demoted(owner_client, tenant, owner):
    m = membership(tenant, "owner@acme.test")
    response = owner_client.post(action_url(m, "role"), {"role": "admin"})
    assert response.status_code == 409
    assert "last owner" in response.content.decode()
    assert membership(tenant, "owner@acme.test").role == "owner"
    assert not AuditEvent.objects.filter(action="member.role_changed").exists()


def test_the_last_owner_cannot_be_removed(owner_client, tenant, owner):
    m = membership(tenant, "owner@acme.test")
    response = owner_client.post(action_url(m, "remove"), headers=HTMX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#flash"
    assert "last owner" in response.content.decode()
    assert tenant.memberships.filter(pk=m.pk).exists()


def test_with_two_owners_one_may_step_down(owner_client, tenant, owner, admin):
    services.change_role(tenant, SHELL, membership(tenant, "admin@acme.test"), role="owner")
    response = owner_client.post(
        action_url(membership(tenant, "owner@acme.test"), "role"), {"role": "viewer"}
    )
    assert response.status_code == 303
    assert membership(tenant, "owner@acme.test").role == "viewer"
    # ...and now the other one is the last owner.
    with pytest.raises(Conflict):
        services.remove_member(tenant, SHELL, membership(tenant, "admin@acme.test"))
    # The demoted owner's next page has no owner actions.
    assert "Change role" not in owner_client.get(PAGE).content.decode()


@pytest.mark.django_db(transaction=True)
@requires_postgres
def test_two_owners_demoting_each_other_at_once_leave_one_owner(tenant, owner, admin):
    services.change_role(tenant, SHELL, membership(tenant, "admin@acme.test"), role="owner")
    pair = [membership(tenant, "owner@acme.test"), membership(tenant, "admin@acme.test")]
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(m):
        try:
            barrier.wait()
            services.change_role(tenant, SHELL, m, role="viewer")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=(m,)) for m in pair]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert tenant.memberships.filter(role="owner").count() == 1
