"""On PostgreSQL the key lookup is a prepared statement (PG_PREPARE_THRESHOLD): planned once per
connection, not once per request."""

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import ApiClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="PostgreSQL only; run with DATABASE_URL=postgres://... (CI does)",
    ),
]


def prepared_lookups() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall() if "apikeys_apikey" in row[0]]


def test_the_key_lookup_is_prepared_after_a_few_requests(admin_key):
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 5
    connection.close()  # a fresh connection: nothing prepared by earlier tests
    client = ApiClient(admin_key[1])
    assert client.get("/t/acme-corp/api/v1/admin/api-keys").status_code == 200
    assert prepared_lookups() == []
    for _ in range(5):
        assert client.get("/t/acme-corp/api/v1/admin/api-keys").status_code == 200
    assert any("public_id" in statement for statement in prepared_lookups())
