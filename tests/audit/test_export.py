"""`GET /audit-logs/export?format=csv|jsonl`: streamed, filtered like the list, never a secret;
served to the portal session and to API keys, 404 from another tenant."""

import csv
import io
import json
from pathlib import Path

import pytest
from django.http import StreamingHttpResponse

from access.actor import Actor
from apikeys import services as key_services
from audit.models import AuditEvent
from audit.services import record
from tests.conftest import HTMX, mint_admin_key

pytestmark = pytest.mark.django_db

PAGE_EXPORT = "/t/acme-corp/portal/audit-log/export"
API_EXPORT = "/t/acme-corp/api/v1/admin/audit-logs/export"


def body_of(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def csv_rows(response):
    return list(csv.DictReader(io.StringIO(body_of(response))))


def jsonl_rows(response):
    return [json.loads(line) for line in body_of(response).splitlines()]


@pytest.fixture
def minted(tenant):
    """A key minted (and rotated) through the services: its plaintexts must never be exported."""
    key, first = key_services.mint_key(tenant, Actor.system("tests"), name="exported-bot")
    _, second = key_services.rotate_key(tenant, Actor.system("tests"), key, grace_period=60)
    return key, [first, second]


# --- four ways ---------------------------------------------------------------------------


def test_portal_session_downloads_a_csv_attachment(viewer_client, minted):
    response = viewer_client.get(PAGE_EXPORT, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-corp-')
    assert response["Content-Disposition"].endswith('.csv"')
    rows = csv_rows(response)
    assert rows[0]["action"] == "api_key.rotated"  # newest first
    (original,) = [
        r for r in rows if r["targetId"] == str(minted[0].pk) and r["action"] == "api_key.created"
    ]
    assert original["targetName"] == "exported-bot"
    assert original["actorName"] == "tests"
    assert json.loads(original["metadata"])["prefix"] == minted[0].prefix
    assert len(rows) == AuditEvent.objects.count()


def test_htmx_request_to_the_export_still_gets_the_file(viewer_client, minted):
    response = viewer_client.get(PAGE_EXPORT, {"format": "jsonl"}, headers=HTMX)
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.jsonl"')
    assert len(jsonl_rows(response)) == AuditEvent.objects.count() > 1


def test_api_key_downloads_jsonl_in_the_event_shape(api, minted):
    response = api.get(API_EXPORT, {"format": "jsonl"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    rows = jsonl_rows(response)
    assert rows[0]["action"] == "api_key.rotated"
    # Line for line what the list serves (whose shape test_audit_log pins).
    listed = api.get("/t/acme-corp/api/v1/admin/audit-logs").json()["data"]
    assert rows == listed


def test_export_of_another_tenant_is_404_for_its_members(outsider_client, minted):
    assert outsider_client.get(PAGE_EXPORT, {"format": "csv"}).status_code == 404


def test_export_with_another_tenants_key_is_401(make_api, other_tenant, minted):
    _, secret = mint_admin_key(other_tenant)
    assert make_api(secret).get(API_EXPORT, {"format": "csv"}).status_code == 401


def test_export_never_includes_another_tenants_events(viewer_client, other_tenant, minted):
    mint_admin_key(other_tenant, name="globex-only")
    assert "globex-only" not in body_of(viewer_client.get(PAGE_EXPORT, {"format": "csv"}))


# --- secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_never_contains_a_minted_key(api, admin_key, minted, fmt):
    text = body_of(api.get(API_EXPORT, {"format": fmt}))
    for secret in [*minted[1], admin_key[1]]:
        assert secret not in text
        assert secret[-20:] not in text
    assert minted[0].prefix in text  # the prefix is fine, and it is there


# --- filters and format ------------------------------------------------------------------


def test_export_applies_the_same_filters_as_the_list(api, minted):
    rows = jsonl_rows(api.get(API_EXPORT, {"format": "jsonl", "action": "api_key.rotated"}))
    assert [r["action"] for r in rows] == ["api_key.rotated"]
    rows = jsonl_rows(api.get(API_EXPORT, {"format": "jsonl", "targetId": str(minted[0].pk)}))
    assert {r["target"]["id"] for r in rows} == {str(minted[0].pk)}
    rows = jsonl_rows(api.get(API_EXPORT, {"format": "jsonl", "since": "2999-01-01"}))
    assert rows == []


@pytest.mark.parametrize("params", [{"format": "xml"}, {}, {"format": "csv", "since": "soon"}])
def test_bad_or_missing_format_or_filter_is_400(api, minted, params):
    response = api.get(API_EXPORT, params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request" and body["details"]


def test_export_streams_more_rows_than_one_chunk(api, tenant, monkeypatch):
    from audit import views

    monkeypatch.setattr(views, "EXPORT_CHUNK", 5)
    for _ in range(12):
        AuditEvent.objects.create(tenant=tenant, action="agent.updated", actor_type="user")
    rows = csv_rows(api.get(API_EXPORT, {"format": "csv", "action": "agent.updated"}))
    assert len(rows) == 12


def test_csv_cells_that_would_run_as_spreadsheet_formulas_are_defused(api, tenant):
    AuditEvent.objects.create(
        tenant=tenant, action="agent.created", actor_type="user", actor_name="=HYPERLINK(1)"
    )
    rows = csv_rows(api.get(API_EXPORT, {"format": "csv", "action": "agent.created"}))
    assert rows[0]["actorName"] == "'=HYPERLINK(1)"


def test_audit_page_links_to_both_exports_with_its_filters(viewer_client, minted):
    html = viewer_client.get("/t/acme-corp/portal/audit-log", {"action": "api_key.rotated"})
    html = html.content.decode()
    assert f"{PAGE_EXPORT}?action=api_key.rotated&amp;format=csv" in html
    assert f"{PAGE_EXPORT}?action=api_key.rotated&amp;format=jsonl" in html


# --- the chain's hashes, and the README's offline check -------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_offline_check() -> str:
    """The Python block between the README's audit-offline-check markers, as published."""
    text = README.read_text()
    block = text.split("<!-- audit-offline-check:start -->")[1].split(
        "<!-- audit-offline-check:end -->"
    )[0]
    return block.split("```python\n")[1].split("```")[0]


def run_offline_check(tmp_path, monkeypatch, export: str) -> str:
    (tmp_path / "audit.jsonl").write_text(export, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    exec(compile(readme_offline_check(), "README.md", "exec"), {})  # noqa: S102 (our README)
    return out.getvalue()


def test_csv_export_carries_both_hashes(api, minted):
    rows = csv_rows(api.get(API_EXPORT, {"format": "csv"}))
    assert list(rows[0])[-2:] == ["prevHash", "hash"]
    assert rows[-1]["prevHash"] == "0" * 64  # oldest last: the chain's first event
    assert rows[0]["prevHash"] == rows[1]["hash"]


def test_the_readmes_offline_check_accepts_an_untouched_jsonl_export(
    api, minted, tmp_path, monkeypatch
):
    record(minted[0].tenant, Actor.system("tests"), "agent.created", metadata={"name": "Zoë ✓"})
    export = body_of(api.get(API_EXPORT, {"format": "jsonl"}))
    count = AuditEvent.objects.count()
    newest = AuditEvent.objects.order_by("-seq").first()
    assert run_offline_check(tmp_path, monkeypatch, export) == (
        f"ok: {count} events; the newest hash is {newest.hash}\n"
    )


def test_the_readmes_offline_check_names_an_edited_event(api, minted, tmp_path, monkeypatch):
    lines = body_of(api.get(API_EXPORT, {"format": "jsonl"})).splitlines()
    edited = json.loads(lines[1])
    edited["actor"]["name"] = "mallory"
    lines[1] = json.dumps(edited)
    with pytest.raises(SystemExit, match=f"event {edited['id']} does not match its hash"):
        run_offline_check(tmp_path, monkeypatch, "\n".join(lines) + "\n")


def test_the_readmes_offline_check_sees_a_deleted_event(api, minted, tmp_path, monkeypatch):
    lines = body_of(api.get(API_EXPORT, {"format": "jsonl"})).splitlines()
    del lines[1]  # newest first: all but the newest two still link from the start
    with pytest.raises(SystemExit, match=f"the chain breaks after {len(lines) - 1} events"):
        run_offline_check(tmp_path, monkeypatch, "\n".join(lines) + "\n")
