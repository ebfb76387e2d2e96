"""A person manages webhooks in Chromium: create one (secret shown once), send a test event,
see its delivery, redeliver it, and rotate the secret. The worker's step is
`services.deliver_due()`, called here as `runworker` would."""

import pytest
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook as Verifier

from tests.browser.conftest import log_in
from tests.conftest import make_member
from webhooks import services
from webhooks.models import Webhook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE = "/t/acme-corp/portal/settings/webhooks"


def test_create_test_see_delivery_redeliver_and_rotate(page, tenant, httpserver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    httpserver.expect_request("/hook").respond_with_data("ok")
    make_member(tenant, "owner@acme.test", "owner")
    log_in(page, "owner@acme.test")
    page.goto(PAGE)

    page.get_by_label("Endpoint URL").fill(httpserver.url_for("/hook"))
    page.get_by_label("webhook.test", exact=True).check()
    page.get_by_role("button", name="Add webhook").click()
    secret = page.locator("#webhook-secret").input_value()
    assert secret.startswith("whsec_")
    expect(page.get_by_text("won't be able to see it again")).to_be_visible()

    page.goto(PAGE)  # a later page never shows the secret
    expect(page.locator("#webhook-secret")).to_have_count(0)
    hook = Webhook.objects.get()
    page.get_by_role("link", name=hook.url).click()
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_text("Test event queued.")).to_be_visible()

    services.deliver_due()
    page.reload()
    row = page.locator("tr.delivery-row")
    expect(row).to_have_attribute("data-status", "delivered")
    expect(row).to_contain_text("HTTP 200")

    row.get_by_role("button", name="Redeliver").click()
    expect(page.locator("tr.delivery-row")).to_have_attribute("data-status", "pending")
    services.deliver_due()
    page.reload()
    expect(page.locator("tr.delivery-row")).to_have_attribute("data-status", "delivered")

    requests = [req for req, _ in httpserver.log]
    assert len(requests) == 2
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]
    for req in requests:
        body = Verifier(secret).verify(req.get_data(as_text=True), dict(req.headers))
        assert body["type"] == "webhook.test"

    page.get_by_label("Old secret keeps signing for").select_option(label="1 hour")
    page.get_by_role("button", name="Rotate secret").click()
    new_secret = page.locator("#webhook-secret").input_value()
    assert new_secret.startswith("whsec_") and new_secret != secret
    expect(page.get_by_text("the previous secret still signs until")).to_be_visible()
