"""createtenant, addmember and seeddemo (SPEC §8): through the services, so audited."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from audit.models import AuditEvent
from tenants.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def printed_password(output):
    return re.search(r"Password(?: for \S+)?:\s+(\S+)", output).group(1)


def can_log_in(email, password):
    client = Client()
    return client.post("/login", {"login": email, "password": password}).status_code == 302


# --- createtenant ------------------------------------------------------------------------


def test_createtenant_makes_tenant_owner_and_prints_a_password_that_works():
    out = run("createtenant", "acme-corp", "--name", "Acme Corp", "--owner", "Boss@Acme.test")
    tenant = Tenant.objects.get(slug="acme-corp")
    assert tenant.name == "Acme Corp"
    user = User.objects.get(email="boss@acme.test")
    assert Membership.objects.get(tenant=tenant, user=user).role == "owner"
    assert user.password.startswith("argon2$")
    password = printed_password(out)
    assert can_log_in("boss@acme.test", password)
    event = AuditEvent.objects.get(action="member.added")
    assert event.actor_name == "manage.py createtenant"
    assert password not in str(event.metadata)


def test_createtenant_with_a_password_uses_it_and_prints_none():
    out = run(
        "createtenant",
        "acme-corp",
        "--name",
        "Acme",
        "--owner",
        "b@acme.test",
        "--password",
        "a sturdy passphrase",
    )
    assert "a sturdy passphrase" not in out
    assert "Password for" not in out
    assert can_log_in("b@acme.test", "a sturdy passphrase")


def test_createtenant_again_keeps_the_tenant_and_says_so():
    run("createtenant", "acme-corp", "--name", "Acme Corp", "--owner", "b@acme.test")
    out = run("createtenant", "acme-corp", "--name", "Acme Corp", "--owner", "b@acme.test")
    assert "already exists" in out and "already owner" in out
    assert "Password for" not in out  # an existing user's password is left alone
    assert Tenant.objects.count() == 1 and Membership.objects.count() == 1
    assert AuditEvent.objects.filter(action="member.added").count() == 1


@pytest.mark.parametrize("slug", ["Acme", "-acme", "acme-", "acme_corp", "a" * 51, ""])
def test_createtenant_refuses_a_bad_slug(slug):
    with pytest.raises(CommandError, match="slug"):
        run("createtenant", slug, "--name", "X", "--owner", "b@acme.test")
    assert not Tenant.objects.exists()


def test_createtenant_refuses_a_bad_email_or_weak_password_and_creates_nothing_for_them():
    with pytest.raises(CommandError, match="email"):
        run("createtenant", "acme-corp", "--name", "X", "--owner", "not-an-email")
    with pytest.raises(CommandError, match="password"):
        run("createtenant", "globex", "--name", "X", "--owner", "b@g.test", "--password", "short")
    assert not User.objects.exists()


# --- addmember ---------------------------------------------------------------------------


@pytest.fixture
def acme():
    run("createtenant", "acme-corp", "--name", "Acme Corp", "--owner", "boss@acme.test")
    return Tenant.objects.get(slug="acme-corp")


def test_addmember_creates_a_new_user_with_a_printed_password(acme):
    out = run("addmember", "acme-corp", "new@acme.test", "--role", "viewer")
    assert Membership.objects.get(tenant=acme, user__email="new@acme.test").role == "viewer"
    assert can_log_in("new@acme.test", printed_password(out))
    assert "new@acme.test is now viewer of acme-corp" in out


def test_addmember_re_roles_an_existing_member(acme):
    run("addmember", "acme-corp", "new@acme.test", "--role", "viewer")
    out = run("addmember", "acme-corp", "NEW@acme.test", "--role", "admin")
    assert Membership.objects.get(tenant=acme, user__email="new@acme.test").role == "admin"
    assert "Password for" not in out
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.metadata["previousRole"] == "viewer" and event.metadata["role"] == "admin"


def test_addmember_with_password_sets_an_existing_users_password(acme):
    run(
        "addmember",
        "acme-corp",
        "boss@acme.test",
        "--role",
        "owner",
        "--password",
        "fresh pass 123",
    )
    assert can_log_in("boss@acme.test", "fresh pass 123")


def test_addmember_cannot_demote_the_last_owner(acme):
    with pytest.raises(CommandError, match="last owner"):
        run("addmember", "acme-corp", "boss@acme.test", "--role", "viewer")


def test_addmember_for_an_unknown_tenant_or_role_fails_clearly(acme):
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        run("addmember", "nope", "x@acme.test", "--role", "viewer")
    with pytest.raises(CommandError):
        run("addmember", "acme-corp", "x@acme.test", "--role", "emperor")
    assert not User.objects.filter(email="x@acme.test").exists()


# --- seeddemo ----------------------------------------------------------------------------


def test_seeddemo_prints_a_login_that_works_and_is_idempotent():
    first = run("seeddemo")
    assert "http://127.0.0.1:8000/login" in first and "owner@acme.test" in first
    assert can_log_in("owner@acme.test", printed_password(first))
    second = run("seeddemo")
    # A restart keeps the password: nobody is logged out, a password set since survives.
    assert "Password: the one printed when the demo was first set up" in second
    assert can_log_in("owner@acme.test", printed_password(first))
    reset = run("seeddemo", "--reset-password")
    assert printed_password(reset) != printed_password(first)
    assert can_log_in("owner@acme.test", printed_password(reset))
    assert not can_log_in("owner@acme.test", printed_password(first))
    tenant = Tenant.objects.get(slug="acme-corp")
    assert tenant.name == "Acme Corp"
    assert Tenant.objects.count() == 1 and User.objects.count() == 1
    assert Membership.objects.get(tenant=tenant).role == "owner"
    assert AuditEvent.objects.filter(action="member.added").count() == 1


def test_seeddemo_keeps_a_password_the_owner_set_in_the_portal():
    run("seeddemo")
    owner = User.objects.get(email="owner@acme.test")
    owner.set_password("a password of my own choosing")
    owner.save()
    run("seeddemo")
    assert can_log_in("owner@acme.test", "a password of my own choosing")


def test_seeddemo_prints_the_address_the_demo_really_serves_on():
    out = run("seeddemo", "--url", "http://127.0.0.1:8123/login")
    assert "http://127.0.0.1:8123/login" in out
    assert "8000" not in out
