"""Upgrading to django-allauth: an account and password made by the pre-allauth schema log in."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from audit.models import AuditEvent
from tests.conftest import PASSWORD

# The schema of the last release before allauth: tenants at its first migration, no allauth apps.
BEFORE_ALLAUTH = [
    ("tenants", "0002_tenant_settings_from_webhooks"),
    ("account", None),
    ("mfa", None),
    ("socialaccount", None),
    ("usersessions", None),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_an_account_made_before_allauth_logs_in_after_the_upgrade():
    executor = migrate(BEFORE_ALLAUTH)
    old = executor.loader.project_state(("tenants", "0002_tenant_settings_from_webhooks")).apps
    assert "account_emailaddress" not in connection.introspection.table_names()
    # As main made them: an Argon2 hash at Django's production cost, no allauth rows.
    user = old.get_model("tenants", "User").objects.create(
        email="veteran@acme.test", password=Argon2PasswordHasher().encode(PASSWORD, "saltsaltsalt")
    )
    tenant = old.get_model("tenants", "Tenant").objects.create(slug="acme-corp", name="Acme")
    old.get_model("tenants", "Membership").objects.create(tenant=tenant, user=user, role="owner")

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    client = Client()
    response = client.post("/login", {"login": "Veteran@acme.test", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert AuditEvent.objects.filter(action="user.login", target_id=str(user.pk)).count() == 1
    assert client.get("/t/acme-corp/portal/").status_code == 200
    # Its address counts as verified, as for accounts made since (no signing up, ever).
    assert EmailAddress.objects.filter(user_id=user.pk, verified=True, primary=True).exists()
