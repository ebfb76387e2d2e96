"""A person filters the audit log, loads more rows in place, and sees the export links follow."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEvent
from tests.browser.conftest import log_in, screenshot
from tests.conftest import make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_filter_the_audit_log_and_load_more(page, tenant):
    make_member(tenant, "viewer@acme.test", "viewer")
    now = timezone.now()
    for i in range(55):
        AuditEvent.objects.create(
            tenant=tenant,
            action="agent.updated",
            occurred_at=now - dt.timedelta(minutes=i + 1),
            actor_type="user",
            actor_name="alice@acme.test",
            target_type="agent",
            target_id=f"a-{i}",
            target_name=f"bot-{i}",
        )
    AuditEvent.objects.create(
        tenant=tenant, action="api_key.revoked", actor_type="api_key", actor_name="deploy-bot"
    )

    log_in(page, "viewer@acme.test")
    page.goto("/t/acme-corp/portal/audit-log")
    rows = page.locator("tr.event")
    assert rows.count() == 50
    page.get_by_role("link", name="Load more").click()
    expect(rows).to_have_count(57)  # and the user.login of this session
    assert page.get_by_role("link", name="Load more").count() == 0

    page.get_by_label("Action").select_option("api_key.revoked")
    page.get_by_role("button", name="Filter events").click()
    expect(rows).to_have_count(1)
    assert "deploy-bot" in rows.first.inner_text()
    assert "action=api_key.revoked" in page.url  # pushed, so the filtered view can be shared
    csv_link = page.get_by_role("link", name="CSV")
    assert "action=api_key.revoked" in csv_link.get_attribute("href")
    with page.expect_download() as download:
        csv_link.click()
    assert download.value.suggested_filename.endswith(".csv")
    screenshot(page, "audit-log-filtered")
    assert page.js_errors == []
