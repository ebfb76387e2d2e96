"""`manage.py mintkey` (SPEC §8): the key alone on stdout, errors on stderr, audited."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from access import keyformat
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def mintkey(*args):
    out, err = StringIO(), StringIO()
    call_command("mintkey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_key_alone_on_stdout(tenant, make_api):
    out, err = mintkey("acme-corp", "--name", "ci")
    assert out.endswith("\n") and out.count("\n") == 1
    key = out.strip()
    assert keyformat.parse(key).kind == "admin"
    assert err == ""
    # It works: KEY=$(python manage.py mintkey acme-corp --name ci)
    assert make_api(key).get("/t/acme-corp/api/v1/admin/api-keys").status_code == 200
    minted = tenant.api_keys.get()
    assert (minted.name, minted.scopes, minted.expires_at) == ("ci", [], None)


def test_scopes_and_expiry(tenant):
    mintkey(
        "acme-corp",
        "--name",
        "reader",
        "--scope",
        "api_keys:read",
        "--scope",
        "audit:read",
        "--expires-in",
        "3600",
    )
    key = tenant.api_keys.get()
    assert key.scopes == ["api_keys:read", "audit:read"]
    assert abs(key.expires_at - (timezone.now() + dt.timedelta(hours=1))) < dt.timedelta(minutes=1)


def test_the_mint_is_audited_as_the_command_without_the_secret(tenant):
    out, _ = mintkey("acme-corp", "--name", "ci")
    event = AuditEvent.objects.get(tenant=tenant, action="api_key.created")
    assert (event.actor_type, event.actor_name) == ("system", "manage.py mintkey")
    assert out.strip() not in repr(event.metadata)
    assert tenant.api_keys.get().created_by_name == "manage.py mintkey"


@pytest.mark.parametrize(
    "args,message",
    [
        (["no-such-tenant", "--name", "ci"], "No tenant with slug 'no-such-tenant'."),
        (["acme-corp", "--name", "ci", "--scope", "root"], "--scope: Unknown value 'root'."),
        (["acme-corp", "--name", "x" * 101], "--name: At most 100 characters"),
        (["acme-corp", "--name", "bad\u202ename"], "--name: Control, bidi-override"),
        (["acme-corp", "--name", "  "], "--name: This field may not be blank."),
        (["acme-corp", "--name", "ci", "--expires-in", "0"], "--expires-in:"),
    ],
)
def test_bad_input_is_an_error_and_mints_nothing(tenant, args, message):
    with pytest.raises(CommandError) as exc:
        mintkey(*args)
    assert message in str(exc.value)
    assert not tenant.api_keys.exists()
    assert not AuditEvent.objects.filter(action="api_key.created").exists()


def test_errors_go_to_stderr_with_a_nonzero_exit(tenant, capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exc:
        ManagementUtility(["manage.py", "mintkey", "nowhere", "--name", "ci"]).execute()
    assert exc.value.code != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "No tenant with slug 'nowhere'." in captured.err


def test_name_is_required(tenant, capsys):
    with pytest.raises((CommandError, SystemExit)):
        call_command("mintkey", "acme-corp")
