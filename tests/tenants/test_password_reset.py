"""Password reset by email (SPEC §14): the same answer for any address, a single-use expiring
link, and a reset ends the user's other sessions."""

import logging
import re

import pytest
from django.core import mail
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

RESET = "/accounts/password/reset/"
NEW = "a brand new passphrase 31"


def request_reset(email):
    return Client().post(RESET, {"email": email})


def link_in(message) -> str:
    return re.search(r"https?://testserver(/accounts/password/reset/key/\S+)", message.body).group(
        1
    )


def set_password(client, link, password=NEW):
    """Follow the link (allauth moves its key into the session), then post the new password."""
    response = client.get(link)
    assert response.status_code == 302
    form_url = response["Location"]
    return client.post(form_url, {"password1": password, "password2": password})


def test_the_login_page_links_to_the_reset():
    assert f'href="{RESET}"' in Client().get("/login").content.decode()


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(owner):
    known = request_reset("owner@acme.test")
    unknown = request_reset("nobody@acme.test")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    page = Client().get(known["Location"]).content.decode()
    assert "sent you an email" in page or "We have sent" in page
    # The account's owner gets a link; the unknown address gets no link at all.
    with_link = [m for m in mail.outbox if "/accounts/password/reset/key/" in m.body]
    assert [m.to for m in with_link] == [["owner@acme.test"]]


def test_the_link_sets_a_new_password_once_and_ends_other_sessions(owner, caplog):
    caplog.set_level(logging.DEBUG)
    elsewhere = Client()
    assert elsewhere.post("/login", {"login": owner.email, "password": PASSWORD}).status_code == 302
    assert elsewhere.get("/t/acme-corp/portal/").status_code == 200

    request_reset("owner@acme.test")
    link = link_in(mail.outbox[0])
    response = set_password(Client(), link)
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW) and not owner.check_password(PASSWORD)
    # The session on the other device is over.
    assert elsewhere.get("/t/acme-corp/portal/").status_code == 302
    # Logging in works with the new password only.
    assert Client().post("/login", {"login": owner.email, "password": NEW}).status_code == 302
    assert Client().post("/login", {"login": owner.email, "password": PASSWORD}).status_code == 400
    # The link is spent.
    again = Client().get(link, follow=True)
    assert "bad token" in again.content.decode().lower() or "invalid" in again.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(NEW)
    key = link.rstrip("/").rsplit("-", 1)[-1]
    assert key not in caplog.text
