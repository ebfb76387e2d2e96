"""Invitations (SPEC §14): invite → mail → accept → member; resend, cancel, single use, expiry."""

import datetime as dt
import logging
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from tenants import invitations
from tenants.models import Invitation, Membership, User
from tests.conftest import HTMX, PASSWORD, login

pytestmark = pytest.mark.django_db

PAGE = "/t/acme-corp/portal/settings/members"
NEW_PASSWORD = "a fresh passphrase 77"
ACCEPT = "/invitations/accept"


def invite(client, email="newbie@acme.test", role="admin"):
    return client.post(PAGE, {"email": email, "role": role})


def link_in(message) -> str:
    return re.search(r"http://testserver(/invitations/\S+)", message.body).group(1)


def accept(client, path, password=NEW_PASSWORD, again=None, **extra):
    """Follow the link (it moves the token into the session), then post the form."""
    client.get(path)
    data = {"password1": password, "password2": password if again is None else again, **extra}
    return client.post(ACCEPT, data)


def opened(client, path):
    """The page the link leads to."""
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == ACCEPT
    return client.get(ACCEPT)


def test_an_owner_invites_and_the_mail_holds_a_link_whose_token_is_stored_as_a_digest(
    owner_client, tenant, owner
):
    response = invite(owner_client)
    assert response.status_code == 303 and response["Location"] == PAGE
    (message,) = mail.outbox
    assert message.to == ["newbie@acme.test"]
    assert message.subject == "You are invited to Acme Corp on Tessera"
    assert "as admin" in message.body and "7 days" in message.body
    path = link_in(message)
    token = path.rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert invitation.token_digest == invitations.digest(token) != token
    assert invitation.expires_at - invitation.sent_at == dt.timedelta(days=7)
    event = AuditEvent.objects.get(action="member.invited")
    assert event.metadata == {"email": "newbie@acme.test", "role": "admin"}
    assert event.actor_id == str(owner.pk)
    assert token not in str(event.__dict__)
    html = owner_client.get(PAGE).content.decode()
    assert 'class="invitation-row" data-email="newbie@acme.test"' in html
    assert "An invitation to join as admin was sent to newbie@acme.test." in html
    assert token not in html


def test_following_the_link_sets_a_password_joins_with_the_role_and_logs_in(owner_client, tenant):
    invite(owner_client)
    path = link_in(mail.outbox[0])
    visitor = Client()
    page = opened(visitor, path).content.decode()
    assert "Join Acme Corp" in page and '<label for="invite-password1">' in page
    response = accept(visitor, path, name="Nia")
    assert response.status_code == 302
    assert response["Location"] == "/t/acme-corp/portal/"
    user = User.objects.get(email="newbie@acme.test")
    assert user.name == "Nia" and user.password.startswith("argon2$")
    assert Membership.objects.get(tenant=tenant, user=user).role == "admin"
    assert visitor.get("/t/acme-corp/portal/").status_code == 200
    joined = AuditEvent.objects.get(action="member.joined")
    assert joined.metadata == {"email": "newbie@acme.test", "role": "admin", "userCreated": True}
    assert joined.actor_id == str(user.pk)
    assert AuditEvent.objects.filter(action="user.login", actor_id=str(user.pk)).count() == 1
    # The password logs in later too; the invitation is no longer pending.
    assert (
        Client().post("/login", {"login": user.email, "password": NEW_PASSWORD}).status_code == 302
    )
    assert 'data-email="newbie@acme.test" class' not in owner_client.get(PAGE).content.decode()
    assert not invitations.pending(tenant).exists()


def test_the_link_works_once(owner_client):
    invite(owner_client)
    path = link_in(mail.outbox[0])
    assert accept(Client(), path).status_code == 302
    again = Client()
    response = opened(again, path)
    assert response.status_code == 404
    assert "not valid" in response.content.decode()
    assert accept(again, path, password="another passphrase 1").status_code == 404
    assert Membership.objects.filter(user__email="newbie@acme.test").count() == 1


def test_the_link_expires_after_seven_days(owner_client, monkeypatch):
    invite(owner_client)
    path = link_in(mail.outbox[0])
    later = timezone.now() + dt.timedelta(days=7, seconds=1)
    monkeypatch.setattr(invitations.timezone, "now", lambda: later)
    assert opened(Client(), path).status_code == 404
    assert accept(Client(), path).status_code == 404
    assert not User.objects.filter(email="newbie@acme.test").exists()
    # The owner sees it as expired.
    assert '<span class="badge">expired</span>' in owner_client.get(PAGE).content.decode()


def test_an_unknown_token_or_none_is_404():
    assert opened(Client(), "/invitations/not-a-token").status_code == 404
    assert Client().get(ACCEPT).status_code == 404


def test_passwords_that_differ_or_are_weak_are_400_and_nothing_is_created(owner_client):
    invite(owner_client)
    path = link_in(mail.outbox[0])
    response = accept(Client(), path, again="something else 12")
    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()
    response = accept(Client(), path, password="short")
    assert response.status_code == 400
    assert not User.objects.filter(email="newbie@acme.test").exists()
    assert opened(Client(), path).status_code == 200  # still pending


def test_resend_replaces_the_link(owner_client, tenant):
    invite(owner_client)
    old = link_in(mail.outbox[0])
    invitation = Invitation.objects.get()
    response = owner_client.post(f"{PAGE}/invitations/{invitation.pk}/resend")
    assert response.status_code == 303
    new = link_in(mail.outbox[1])
    assert new != old
    assert opened(Client(), old).status_code == 404
    assert opened(Client(), new).status_code == 200
    resent = AuditEvent.objects.filter(action="member.invited").order_by("occurred_at", "id")
    assert [e.metadata.get("resent") for e in resent] == [None, True]


def test_cancel_withdraws_the_link(owner_client, tenant):
    invite(owner_client)
    path = link_in(mail.outbox[0])
    invitation = Invitation.objects.get()
    response = owner_client.post(f"{PAGE}/invitations/{invitation.pk}/cancel", headers=HTMX)
    assert response.status_code == 200
    assert "invitation-row" not in response.content.decode()
    assert opened(Client(), path).status_code == 404
    event = AuditEvent.objects.get(action="member.invitation_cancelled")
    assert event.metadata == {"email": "newbie@acme.test", "role": "admin"}
    assert owner_client.post(f"{PAGE}/invitations/{invitation.pk}/cancel").status_code == 404


def test_inviting_a_member_or_a_pending_email_again_is_409(owner_client, viewer):
    assert invite(owner_client, "viewer@acme.test").status_code == 409
    assert invite(owner_client).status_code == 303
    response = invite(owner_client, "NEWBIE@acme.test")
    assert response.status_code == 409
    assert "already invited" in response.content.decode()
    assert len(mail.outbox) == 1


def test_someone_with_an_account_logs_in_to_accept(owner_client, tenant, outsider):
    invite(owner_client, "outsider@globex.test", "viewer")
    path = link_in(mail.outbox[0])
    anonymous = Client()
    assert "Log in to accept" in opened(anonymous, path).content.decode()
    assert accept(anonymous, path).status_code == 409  # no new password for an existing account
    stranger = Client()
    stranger.force_login(User.objects.get(email="owner@acme.test"))
    stranger.get(path)
    assert stranger.post(ACCEPT).status_code == 403
    invitee = Client()
    invitee.force_login(outsider)
    invitee.get(path)
    assert invitee.post(ACCEPT).status_code == 302
    assert Membership.objects.get(tenant=tenant, user=outsider).role == "viewer"
    assert outsider.check_password(PASSWORD)  # their password is unchanged
    assert AuditEvent.objects.get(action="member.joined").metadata["userCreated"] is False


@pytest.mark.parametrize("client_fixture", ["admin_client", "viewer_client"])
def test_only_owners_invite_resend_or_cancel(request, client_fixture, owner_client):
    invite(owner_client)
    invitation = Invitation.objects.get()
    client = request.getfixturevalue(client_fixture)
    assert invite(client, "x@acme.test").status_code == 403
    for action in ("resend", "cancel"):
        assert client.post(f"{PAGE}/invitations/{invitation.pk}/{action}").status_code == 403
    assert len(mail.outbox) == 1 and Invitation.objects.count() == 1


def test_another_tenants_invitation_is_404(owner_client, outsider, other_tenant):
    foreign = login(outsider)
    foreign.post("/t/globex/portal/settings/members", {"email": "g@globex.test", "role": "viewer"})
    invitation = Invitation.objects.get()
    for action in ("resend", "cancel"):
        assert owner_client.post(f"{PAGE}/invitations/{invitation.pk}/{action}").status_code == 404
    assert owner_client.post(f"{PAGE}/invitations/{invitation.pk}/promote").status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_the_link_is_in_no_log_line(owner_client, caplog):
    caplog.set_level(logging.DEBUG)
    invite(owner_client)
    path = link_in(mail.outbox[0])
    accept(Client(), path)
    opened(Client(), path)  # a spent link: 404, logged without the token
    token = path.rsplit("/", 1)[1]
    assert token not in caplog.text
    assert not any(token in str(e.metadata) for e in AuditEvent.objects.all())
