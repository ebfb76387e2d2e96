"""The sessions page (SPEC §14): your sessions with device, IP and last activity; end another."""

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGE = "/accounts/sessions/"


def signed_in(agent, ip):
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    assert (
        client.post("/login", {"login": "owner@acme.test", "password": PASSWORD}).status_code == 302
    )
    return client


def test_the_page_lists_each_session_and_ends_another(owner, viewer):
    laptop = signed_in("Laptop Firefox", "198.51.100.7")
    phone = signed_in("Phone Safari", "203.0.113.9")
    html = laptop.get(PAGE).content.decode()
    assert "Laptop Firefox" in html and "Phone Safari" in html
    assert "203.0.113.9" in html and "this device" in html
    assert html.count('class="session-row"') == 2
    other = UserSession.objects.get(user=owner, user_agent="Phone Safari")
    mine = UserSession.objects.get(user=owner, user_agent="Laptop Firefox")
    # Not this session, and not someone else's.
    assert laptop.post(f"{PAGE}{mine.pk}/end").status_code == 404
    stranger = Client()
    stranger.force_login(viewer)
    assert stranger.post(f"{PAGE}{other.pk}/end").status_code == 404
    assert phone.get("/t/acme-corp/portal/").status_code == 200

    response = laptop.post(f"{PAGE}{other.pk}/end")
    assert response.status_code == 302
    assert phone.get("/t/acme-corp/portal/").status_code == 302  # signed out
    assert laptop.get("/t/acme-corp/portal/").status_code == 200
    assert laptop.get(PAGE).content.decode().count('class="session-row"') == 1


def test_anonymous_visitors_go_to_login(db):
    assert Client().get(PAGE)["Location"].startswith("/login")
