"""A database outage (SPEC §4): 503 `service_unavailable` with Retry-After under /api/v1/, a 503
page in the portal, never a 500; logged once per outage and once when it ends. Here the
database "fails" by a patched connection; tests/portal/test_outage_postgres.py stops a real one."""

import logging
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client, RequestFactory

from portal import outage
from portal.views import server_error

pytestmark = pytest.mark.django_db

API = "/t/acme-corp/api/v1/admin/api-keys"
PAGE = "/t/acme-corp/portal/settings/api-keys"


@pytest.fixture(autouse=True)
def _fresh_outage_state():
    outage.recovered()
    yield
    outage.recovered()


REFUSED = OperationalError("connection to server failed: Connection refused")


def database_down(exc=REFUSED):
    return mock.patch.object(connection, "cursor", side_effect=exc)


def assert_json_503(response):
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "service_unavailable",
        "message": outage.MESSAGE,
        "status": 503,
    }
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("exc", [OperationalError("refused"), InterfaceError("closed")])
def test_an_api_request_while_the_database_is_down_is_a_503(api, exc):
    with database_down(exc):
        response = api.get(API)
    assert_json_503(response)


def test_an_unsafe_api_request_while_the_database_is_down_is_a_503(api):
    with database_down():
        response = api.post(f"{API}", {"name": "k"})
    assert_json_503(response)


def test_a_portal_page_while_the_database_is_down_is_a_503_page(owner_client):
    # The session's first query may now come from middleware (allauth's session tracking), where
    # the outage reaches the 500 handler; the test client would re-raise it instead of answering.
    owner_client.raise_request_exception = False
    with database_down():
        response = owner_client.get(PAGE)
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"Service unavailable" in response.content
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("logged_in", [False, True])
def test_the_login_page_while_the_database_is_down_is_a_503_page(owner, logged_in):
    """The form needs no query to render, but a login cannot work: the 503 page, not a form
    whose post would fail (nor a 500)."""
    client = Client()
    if logged_in:
        client.force_login(owner)
    with database_down():
        response = client.get("/login")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"Service unavailable" in response.content
    assert int(response["Retry-After"]) > 0
    assert Client().get("/login").status_code == 200  # and the form again once it is back


def test_the_login_page_post_while_the_database_is_down_is_a_503_page(owner):
    with database_down():
        response = Client().post("/login", {"login": "owner@acme.test", "password": "x"})
    assert response.status_code == 503


@pytest.mark.parametrize("is_api", [True, False])
def test_an_outage_raised_in_middleware_reaches_the_500_handler_as_a_503(is_api):
    request = RequestFactory().get("/")
    request.is_api = is_api
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


def test_other_errors_still_reach_the_500_handler_as_a_500():
    request = RequestFactory().get("/")
    request.is_api = True
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(request)
    assert response.status_code == 500


def test_an_outage_is_logged_once_and_its_end_once(api, caplog):
    caplog.set_level(logging.INFO)
    with database_down():
        for _ in range(5):
            assert api.get(API).status_code == 503
    assert api.get(API).status_code == 200
    assert api.get(API).status_code == 200
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(",")[0] for r in records] == [
        "database unavailable",
        "database reachable again",
    ]
    assert not any(r.exc_info for r in records)


def test_the_per_request_503_lines_of_an_outage_are_filtered_from_the_request_log():
    request = RequestFactory().get("/")
    request.database_unavailable = True
    record = logging.LogRecord("django.request", logging.ERROR, "", 0, "x", (), None)
    record.request = request
    assert not outage.OutageLogFilter().filter(record)
    record.request = RequestFactory().get("/")
    assert outage.OutageLogFilter().filter(record)
