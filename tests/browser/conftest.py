"""Browser tests: Playwright (sync API) driving Debian's Chromium against `live_server`.

Chromium comes from the system (`apt-get install chromium`), never `playwright install`.
Without it the tests are skipped locally and fail under CI (CI=true).
"""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.conftest import PASSWORD, make_member  # noqa: E402

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    path = _chromium_path()
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser, live_server):
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    page.js_errors = errors
    yield page


@pytest.fixture(params=[True, False], ids=["debug-on", "debug-off"])
def member_page(request, page, tenant, settings):
    """`member_page(role)`: a page logged in as a new member with `role`, once with DEBUG on (as
    under scripts/run) and once with it off (as in production)."""
    settings.DEBUG = request.param

    def logged_in(role):
        make_member(tenant, f"{role}@acme.test", role)
        log_in(page, f"{role}@acme.test")
        return page

    return logged_in


def log_in(page, email, password=PASSWORD, *, confirm=True):
    """Log in through the real login form. `confirm`: then confirm access (SPEC §14) as well, as
    someone who is about to mint keys would be asked to, and come back to the same page."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_load_state("networkidle")
    if confirm and not page.url.endswith("/login"):
        confirm_access(page, password)


def confirm_access(page, password=PASSWORD):
    """Confirm access on allauth's page, then return to the page we were on."""
    here = page.url
    page.goto("/accounts/reauthenticate/")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state("networkidle")
    page.goto(here)


def screenshot(page, name, *, readme=False):
    """Into test-artifacts/; a README picture (`readme=True`) is also copied to docs/screenshots/
    when UPDATE_SCREENSHOTS is set, so an ordinary run leaves the tree clean."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if readme and os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / f"{name}.png", SCREENSHOTS / f"{name}.png")
