"""Login, logout and the tenant picker: audited in every tenant, throttled per email (SPEC §7)."""

import time

import pytest
from django.test import Client

from audit.models import AuditEvent
from tenants import services
from tenants.models import Membership
from tests.conftest import HTMX, PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/login"


def attempt(client, email, password, next=None, **meta):
    data = {"login": email, "password": password}
    if next is not None:
        data["next"] = next
    return client.post(LOGIN, data, **meta)


def events(action, tenant=None):
    qs = AuditEvent.objects.filter(action=action)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return list(qs)


@pytest.fixture
def two_tenant_owner(owner, other_tenant):
    Membership.objects.create(tenant=other_tenant, user=owner, role="viewer")
    return owner


# --- the login page ----------------------------------------------------------------------


def test_login_page_has_email_and_password_fields_and_a_log_in_button():
    response = Client().get(LOGIN)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="login-email">Email</label>' in html
    assert '<label for="login-password">Password</label>' in html
    assert 'type="password" name="password"' in html
    assert ">Log in</button>" in html
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    )


def test_logging_in_with_the_right_password_starts_a_session(owner):
    client = Client()
    response = attempt(client, "owner@acme.test", PASSWORD)
    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(owner.pk)
    # A single-tenant user is taken straight to the tenant's overview.
    assert client.get(response["Location"]).status_code == 302
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/t/acme-corp/portal/"


def test_email_is_matched_case_insensitively(owner):
    client = Client()
    assert attempt(client, "  Owner@ACME.test ", PASSWORD).status_code == 302
    assert client.session.get("_auth_user_id") == str(owner.pk)


def test_wrong_password_shows_an_error_and_starts_no_session(owner):
    client = Client()
    response = attempt(client, "owner@acme.test", "wrong password")
    assert response.status_code == 400
    assert "The email or password is not correct." in response.content.decode()
    assert 'value="owner@acme.test"' in response.content.decode()  # the email is kept
    assert "_auth_user_id" not in client.session


def test_unknown_email_gets_the_same_message_as_a_wrong_password(owner):
    response = attempt(Client(), "nobody@acme.test", PASSWORD)
    assert response.status_code == 400
    assert "The email or password is not correct." in response.content.decode()


def test_login_follows_a_safe_next_and_ignores_an_offsite_one(owner):
    client = Client()
    response = attempt(client, "owner@acme.test", PASSWORD, next="/t/acme-corp/portal/audit-log")
    assert response["Location"] == "/t/acme-corp/portal/audit-log"
    client = Client()
    response = attempt(client, "owner@acme.test", PASSWORD, next="https://evil.example/x")
    assert response["Location"] == "/"


def test_anonymous_portal_visit_goes_to_login_and_comes_back(owner):
    client = Client()
    response = client.get("/t/acme-corp/portal/settings/members")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/t/acme-corp/portal/settings/members"
    page = client.get(response["Location"])
    assert 'name="next" value="/t/acme-corp/portal/settings/members"' in page.content.decode()
    response = attempt(
        client, "owner@acme.test", PASSWORD, next="/t/acme-corp/portal/settings/members"
    )
    assert response["Location"] == "/t/acme-corp/portal/settings/members"


def test_logged_in_user_visiting_login_is_sent_on(owner_client):
    response = owner_client.get(LOGIN)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_form_without_csrf_token_is_refused(owner):
    client = Client(enforce_csrf_checks=True)
    assert attempt(client, "owner@acme.test", PASSWORD).status_code == 403


# --- audit of login and logout -----------------------------------------------------------


def test_login_is_audited_in_every_tenant_of_the_user(two_tenant_owner, tenant, other_tenant):
    attempt(Client(), "owner@acme.test", PASSWORD, REMOTE_ADDR="203.0.113.9")
    for t in (tenant, other_tenant):
        (event,) = events("user.login", t)
        assert event.actor_type == "user"
        assert event.actor_id == str(two_tenant_owner.pk)
        assert event.actor_name == "owner@acme.test"
        assert event.target_id == str(two_tenant_owner.pk)
        assert event.ip == "203.0.113.9"


def test_failed_login_is_audited_in_every_tenant_without_the_password(
    two_tenant_owner, tenant, other_tenant
):
    attempt(Client(), "owner@acme.test", "hunter2-wrong")
    for t in (tenant, other_tenant):
        (event,) = events("user.login_failed", t)
        assert event.metadata == {"email": "owner@acme.test", "reason": "invalid_credentials"}
        assert "hunter2" not in str(event.metadata)
    assert events("user.login") == []


def test_failed_login_for_an_unknown_email_records_no_event(owner):
    attempt(Client(), "ghost@acme.test", "whatever")
    assert events("user.login_failed") == []


def test_logout_is_audited_in_every_tenant_and_ends_the_session(
    two_tenant_owner, tenant, other_tenant
):
    client = Client()
    client.force_login(two_tenant_owner)
    response = client.post("/logout")
    assert response.status_code == 302
    assert response["Location"] == "/login"
    assert "_auth_user_id" not in client.session
    assert {e.tenant_id for e in events("user.logout")} == {tenant.pk, other_tenant.pk}
    assert client.get("/t/acme-corp/portal/").status_code == 302


def test_logout_by_get_only_asks_and_keeps_the_session(owner_client):
    response = owner_client.get("/logout")
    assert response.status_code == 200
    assert 'id="logout-form"' in response.content.decode()
    assert owner_client.get("/t/acme-corp/portal/").status_code == 200


# --- throttle ----------------------------------------------------------------------------


def fail_times(n, email="owner@acme.test"):
    client = Client()
    return [attempt(client, email, f"wrong-{i}") for i in range(n)]


def test_ten_failures_lock_the_email_even_for_the_right_password(owner):
    responses = fail_times(10)
    assert [r.status_code for r in responses[:9]] == [400] * 9
    assert responses[9].status_code == 429
    client = Client()
    response = attempt(client, "owner@acme.test", PASSWORD)
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed login attempts for this email" in html
    assert "15 more minutes" in html
    assert int(response["Retry-After"]) > 14 * 60
    assert "_auth_user_id" not in client.session


def test_refused_attempts_are_audited_as_failed_logins(owner, tenant):
    fail_times(10)
    attempt(Client(), "owner@acme.test", PASSWORD)
    reasons = [e.metadata["reason"] for e in events("user.login_failed", tenant)]
    assert reasons.count("invalid_credentials") == 10
    assert reasons.count("throttled") == 1
    assert events("user.login") == []


def test_nine_failures_do_not_lock_and_a_success_resets_the_count(owner):
    fail_times(9)
    assert attempt(Client(), "owner@acme.test", PASSWORD).status_code == 302
    fail_times(9)
    assert attempt(Client(), "owner@acme.test", PASSWORD).status_code == 302


def test_the_lock_only_applies_to_that_email(owner, admin):
    fail_times(10)
    assert attempt(Client(), "admin@acme.test", PASSWORD).status_code == 302
    assert attempt(Client(), "OWNER@acme.test", PASSWORD).status_code == 429


def test_unknown_emails_are_throttled_too(db):
    responses = fail_times(11, email="ghost@acme.test")
    assert responses[-1].status_code == 429


def test_the_lock_expires_after_fifteen_minutes(owner, monkeypatch):
    fail_times(10)
    assert attempt(Client(), "owner@acme.test", PASSWORD).status_code == 429
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 14 * 60)
    assert attempt(Client(), "owner@acme.test", PASSWORD).status_code == 429
    monkeypatch.setattr(time, "time", lambda: real_time() + 15 * 60 + 1)
    assert attempt(Client(), "owner@acme.test", PASSWORD).status_code == 302


def test_failures_older_than_the_window_are_forgotten(owner, monkeypatch):
    fail_times(9)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 15 * 60 + 1)
    fail_times(9)
    assert attempt(Client(), "owner@acme.test", PASSWORD).status_code == 302


def test_lockout_remaining_reports_the_seconds_left(owner):
    assert services.lockout_remaining("owner@acme.test") == 0
    fail_times(10)
    assert 14 * 60 < services.lockout_remaining("owner@acme.test") <= 15 * 60


# --- tenant picker -----------------------------------------------------------------------


def test_picker_lists_each_tenant_with_the_users_role(two_tenant_owner):
    client = Client()
    client.force_login(two_tenant_owner)
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert 'href="/t/acme-corp/portal/"' in html and 'href="/t/globex/portal/"' in html
    assert "Owner</span>" in html and "Viewer</span>" in html


def test_picker_sends_a_single_tenant_user_to_that_tenant(owner_client):
    response = owner_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/t/acme-corp/portal/"


def test_picker_for_an_anonymous_visitor_is_the_login_page(db):
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login")


def test_picker_for_a_user_without_tenants_says_so(django_user_model):
    user = django_user_model.objects.create_user("loner@acme.test", PASSWORD)
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    assert "not a member of any tenant" in response.content.decode()


def test_switcher_in_the_nav_lists_the_users_tenants(two_tenant_owner):
    client = Client()
    client.force_login(two_tenant_owner)
    html = client.get("/t/acme-corp/portal/", headers={}).content.decode()
    assert 'class="switcher"' in html
    assert 'href="/t/globex/portal/"' in html
    assert 'href="/t/acme-corp/portal/" aria-current="page"' in html


def test_htmx_request_to_a_page_without_session_is_redirected_to_login(db):
    response = Client().get("/t/acme-corp/portal/", headers=HTMX)
    assert response["HX-Redirect"].startswith("/login")


def test_password_change_page_changes_the_password(owner_client, owner):
    response = owner_client.post(
        "/account/password",
        {
            "oldpassword": PASSWORD,
            "password1": "a much better passphrase 42",
            "password2": "a much better passphrase 42",
        },
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a much better passphrase 42")
