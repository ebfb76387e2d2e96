"""Leaked-key reports (SPEC §12): POST /api/v1/credentials/revoke."""

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from access import keyformat
from apikeys.leaks import LEAK_REPORTS_PER_HOUR
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.conftest import mint_admin_key

URL = "/api/v1/credentials/revoke"

pytestmark = pytest.mark.django_db

# The regular expressions the README publishes for secret scanners.
README_ADMIN_RE = re.compile(r"\blmk_[0-9A-Za-z]{61}\b")
README_AGENT_RE = re.compile(r"\bsk_agent_live_[0-9A-Za-z]{61}\b")


def report(body, client=None, **extra):
    client = client or Client(enforce_csrf_checks=True)
    return client.post(URL, json.dumps(body), content_type="application/json", **extra)


def test_a_reported_live_key_is_revoked_and_audited_as_leaked(tenant):
    key, secret = mint_admin_key(tenant, name="leaky")
    response = report({"credentials": [secret]})
    assert response.status_code == 202
    assert response.json() == {}
    key.refresh_from_db()
    assert key.status == ApiKey.Status.REVOKED
    event = AuditEvent.objects.get(target_id=str(key.pk), action="api_key.leaked")
    assert event.metadata["source"] == "public report"
    assert event.tenant_id == tenant.pk


def test_the_answer_is_the_same_for_real_revoked_unknown_and_malformed(tenant):
    _, live = mint_admin_key(tenant, name="live")
    revoked_key, revoked = mint_admin_key(tenant, name="gone")
    ApiKey.objects.filter(pk=revoked_key.pk).update(status=ApiKey.Status.REVOKED)
    unknown = keyformat.generate("agent").full
    answers = [
        report({"credentials": [c]}) for c in (live, revoked, unknown, "not a key", live[:-1])
    ]
    assert {(r.status_code, r.content) for r in answers} == {(202, b"{}")}
    # A second report of an already revoked key adds no event.
    assert AuditEvent.objects.filter(action="api_key.leaked").count() == 1


def test_malformed_strings_cost_no_query(tenant):
    with CaptureQueriesContext(connection) as queries:
        response = report({"credentials": ["lmk_short", "x" * 5000, "sk_agent_live_" + "a" * 61]})
    assert response.status_code == 202
    assert len(queries) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"credentials": []},
        {"credentials": "lmk_x"},
        {"credentials": [1]},
        {"credentials": ["a"] * 1001},
        {"credentials": ["a"], "extra": 1},
    ],
)
def test_a_body_that_is_not_a_list_of_1_to_1000_strings_is_a_400(body):
    response = report(body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_a_key_of_any_tenant_is_revoked_without_authentication(tenant, other_tenant):
    key, secret = mint_admin_key(other_tenant, name="other")
    assert report({"credentials": ["junk", secret]}).status_code == 202
    key.refresh_from_db()
    assert key.status == ApiKey.Status.REVOKED


def test_reports_are_limited_per_client_ip(tenant):
    for _ in range(LEAK_REPORTS_PER_HOUR):
        assert report({"credentials": ["x"]}, REMOTE_ADDR="203.0.113.9").status_code == 202
    refused = report({"credentials": ["x"]}, REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    # Another address is not affected.
    assert report({"credentials": ["x"]}, REMOTE_ADDR="203.0.113.10").status_code == 202


def test_only_post_is_allowed():
    response = Client().get(URL)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("kind", ["admin", "agent"])
def test_published_regexes_find_real_keys_and_skip_near_misses(kind):
    pattern = README_ADMIN_RE if kind == "admin" else README_AGENT_RE
    other = README_AGENT_RE if kind == "admin" else README_ADMIN_RE
    for _ in range(20):
        full = keyformat.generate(kind).full
        assert pattern.search(f"token = '{full}'\n").group(0) == full
        assert not other.search(full)
        assert not pattern.search(full[:-1])  # truncated
        assert not pattern.search(full + "x")  # too long
        assert not pattern.search(full.replace("_", "-", 1))  # foreign prefix
    assert keyformat.MAX_KEY_LEN == len("sk_agent_live_") + 61
