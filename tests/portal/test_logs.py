"""LOG_FORMAT=json (SPEC §13): every log line one JSON object; each request logs once with its
request id, tenant, method, route, status, duration and the credential's public prefix; each
worker job run logs once; no secret in any line, whatever was minted and used."""

import io
import json
import logging
import logging.config
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

from access import keyformat, signing
from access.actor import Actor
from apikeys import services as key_services
from portal import logs, proxies, scheduler
from tests.agents.conftest import make_agent
from tests.conftest import ApiClient, mint_admin_key
from tests.oauth.conftest import bearer, get_token

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
A = "/t/acme-corp/api/v1"
REQUEST_FIELDS = {"requestId", "tenant", "method", "route", "status", "durationMs"}


@pytest.fixture
def json_lines():
    """Log as a server with LOG_FORMAT=json does (settings' own config), into a buffer; yields a
    function answering the lines logged so far, each parsed (and failing if one is not JSON)."""
    buffer = io.StringIO()
    config = logs.logging_config("json", "INFO")
    config["handlers"]["console"]["stream"] = buffer
    logging.config.dictConfig(config)

    def lines():
        raw = buffer.getvalue().splitlines()
        return raw, [json.loads(line) for line in raw]

    try:
        yield lines
    finally:
        logging.config.dictConfig(settings.LOGGING)


@pytest.fixture
def trusted_proxy():
    with override_settings(TRUSTED_PROXIES=["127.0.0.1/32"]):
        proxies.trusted_networks.cache_clear()
        yield
    proxies.trusted_networks.cache_clear()


def request_lines(parsed):
    return [entry for entry in parsed if entry["logger"] == "tessera.request"]


def test_no_secret_in_any_json_log_line_after_minting_and_using_keys(
    tenant, owner_client, json_lines
):
    signing.reset()
    secrets = []
    admin_row, admin_secret = mint_admin_key(tenant, name="automation")
    secrets.append(admin_secret)
    api = ApiClient(admin_secret)

    # Minted through the API and the portal; used; refused (unknown, revoked, malformed).
    minted = api.post(f"{A}/admin/api-keys", {"name": "ci"})
    assert minted.status_code == 201
    secrets.append(minted.json()["apiKey"])
    page = owner_client.post("/t/acme-corp/portal/settings/api-keys", {"name": "from-page"})
    secrets += re.findall(r"lmk_[0-9A-Za-z]{61}", page.content.decode())
    assert len(secrets) == 3
    agent, _, agent_secret = make_agent(tenant, name="bot")
    secrets.append(agent_secret)
    assert ApiClient(agent_secret).get(f"{A}/agents/me").status_code == 200
    assert api.get(f"{A}/admin/api-keys").status_code == 200
    body = admin_row.prefix + "0" * keyformat.SECRET_LEN  # the right prefix, a wrong secret
    forged = body + keyformat.checksum(body)
    assert ApiClient(forged).get(f"{A}/admin/api-keys").status_code == 401
    revoked, revoked_secret = mint_admin_key(tenant, name="old")
    key_services.revoke_key(tenant, SYSTEM, revoked, reason="done")
    secrets.append(revoked_secret)
    assert ApiClient(revoked_secret).get(f"{A}/admin/api-keys").status_code == 401
    # A key in a query string is refused, and logged without it.
    assert api.get(f"{A}/admin/api-keys", {"k": secrets[1]}).status_code == 401
    assert api.post(f"{A}/keys/verify", {"key": agent_secret}).json()["valid"] is True

    # An OAuth token and its refresh token, used; a webhook's signing secret.
    issued = get_token(str(agent.pk), agent_secret).json()
    secrets += [issued["access_token"], issued["refresh_token"]]
    assert Client().get(f"{A}/agents/me", headers=bearer(issued["access_token"])).status_code == 200
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
        hook = api.post(f"{A}/admin/webhooks", {"url": "http://127.0.0.1:9/hook"})
    assert hook.status_code == 201
    secrets.append(hook.json()["secret"])
    signing.reset()

    raw, parsed = json_lines()  # every line parses as JSON
    assert len(raw) >= 12
    for secret in secrets:
        # Neither the whole secret nor its secret part (past the public prefix).
        hidden = secret[len(secret) // 2 :]
        assert not any(secret in line or hidden in line for line in raw), secret[:20]

    requests = request_lines(parsed)
    assert len(requests) == 11  # each request once: the 11 made above
    for entry in requests:
        assert REQUEST_FIELDS <= set(entry), entry
        assert re.fullmatch(r"[0-9a-f]{32}", entry["requestId"])
        assert entry["tenant"] in ("acme-corp", None)
        assert "/" not in entry["route"]
        assert isinstance(entry["durationMs"], float | int)
    assert len({entry["requestId"] for entry in requests}) == 11
    listing = [r for r in requests if r["route"] == "api:api-keys" and r["status"] == 200]
    assert listing[0]["credential"] == "api_key"
    assert listing[0]["credentialPrefix"] == admin_row.prefix
    me = [r for r in requests if r["route"] == "api:me" and r["status"] == 200]
    assert {r["credential"] for r in me} == {"api_key", "oauth_token"}
    assert {r["credentialPrefix"] for r in me} == {keyformat.parse(agent_secret).prefix}
    # The refusal of the forged key is logged with its public prefix, under its request's id.
    refusal = next(e for e in parsed if e["message"].startswith("rejected unknown API key"))
    assert admin_row.prefix in refusal["message"]
    assert refusal["requestId"] in {r["requestId"] for r in requests if r["status"] == 401}


def test_the_formatter_masks_a_secret_that_a_message_would_carry(json_lines):
    key = keyformat.generate("admin")
    logging.getLogger("tessera").warning(
        "careless: %s and whsec_c2VjcmV0c2VjcmV0 eyJa.eyJb.c2ln", key.full
    )
    raw, parsed = json_lines()
    assert key.full not in raw[-1]
    assert parsed[-1]["message"] == f"careless: {key.prefix}… and whsec_… eyJ…"
    assert parsed[-1]["level"] == "WARNING"


def test_a_request_id_is_made_and_echoed(tenant, json_lines):
    response = Client().get("/healthz", headers={"X-Request-ID": "from-the-client"})
    made = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)  # an untrusted peer's id is not taken
    assert request_lines(json_lines()[1])[-1]["requestId"] == made


def test_a_trusted_proxys_request_id_is_kept(tenant, trusted_proxy, json_lines):
    response = Client().get("/healthz", headers={"X-Request-ID": "lb-7f3a:91"})
    assert response["X-Request-ID"] == "lb-7f3a:91"
    assert request_lines(json_lines()[1])[-1]["requestId"] == "lb-7f3a:91"


@pytest.mark.parametrize("given", ["has spaces", "x" * 129, 'quote"s', "new\nline"])
def test_an_unfit_request_id_of_a_trusted_proxy_is_replaced(given, trusted_proxy, db):
    response = Client().get("/healthz", headers={"X-Request-ID": given})
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_text_logs_leave_the_request_lines_to_the_access_log():
    config = logs.logging_config("text", "INFO")
    assert config["handlers"]["console"]["formatter"] == "plain"
    assert config["loggers"]["tessera.request"]["level"] == "WARNING"
    assert logs.logging_config("json", "INFO")["loggers"]["tessera.request"]["level"] == "INFO"


def test_the_worker_logs_each_job_run_that_did_something_or_failed(json_lines, monkeypatch):
    def broken():
        raise RuntimeError("boom")

    jobs = [
        scheduler.Job("demo.busy", 60, lambda: 3),
        scheduler.Job("demo.idle", 60, lambda: 0),  # a queue found empty: DEBUG, not a line
        scheduler.Job("demo.broken", 60, broken),
    ]
    monkeypatch.setattr(scheduler, "discover", lambda: jobs)
    call_command("runworker", "--once", stderr=io.StringIO())
    lines = [e for e in json_lines()[1] if e["logger"] == "tessera.jobs"]
    assert [(e["job"], e["outcome"]) for e in lines] == [
        ("demo.busy", "ok"),
        ("demo.broken", "error"),
    ]
    assert lines[0]["result"] == 3
    assert "RuntimeError: boom" in lines[1]["exception"]


def test_a_job_run_logs_one_line_with_its_outcome_and_duration(json_lines):
    with logs.log_job_run("prune") as run:
        run["pruned"] = 3
    with pytest.raises(RuntimeError), logs.log_job_run("dormancy"):
        raise RuntimeError("boom")
    jobs = [e for e in json_lines()[1] if e["logger"] == "tessera.jobs"]
    assert [(e["job"], e["outcome"], e.get("pruned")) for e in jobs] == [
        ("prune", "ok", 3),
        ("dormancy", "error", None),
    ]
    assert all(e["durationMs"] >= 0 for e in jobs)
    assert "RuntimeError: boom" in jobs[1]["exception"]
