"""What a token request costs in queries once the signing key is in memory."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.oauth.conftest import get_token


def test_a_client_credentials_request_costs_one_read_and_three_inserts(issued, client_id, secret):
    with CaptureQueriesContext(connection) as queries:
        assert get_token(client_id, secret).status_code == 200
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    # The key with its agent's access set (one SELECT); the grant, access and refresh rows.
    assert statements.count("SELECT") == 1
    assert statements.count("INSERT") == 3
    assert not {"UPDATE", "DELETE"} & set(statements)
