"""Serving: /healthz, static files through whitenoise, CSP and security headers, and the WSGI app
under gunicorn with production settings and collected static files."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection
from django.test import Client, override_settings

from tests.portal.test_settings import PRODUCTION, ROOT, clean_env

KEYS_PAGE = "/t/acme-corp/portal/settings/api-keys"


# /healthz


@pytest.mark.django_db
def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_is_down(client):
    with mock.patch.object(connection, "cursor", side_effect=OSError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] != "ok"


@pytest.mark.django_db
def test_healthz_needs_no_login_and_no_tls_redirect_for_load_balancers():
    with override_settings(SECURE_SSL_REDIRECT=True):
        client = Client()
        assert client.get("/healthz").status_code == 200
        # Everything else is redirected to HTTPS.
        response = client.get(KEYS_PAGE)
        assert response.status_code == 301
        assert response["Location"].startswith("https://")


# Static files


def test_static_files_are_served_by_whitenoise(client):
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    body = b"".join(response.streaming_content)
    assert body == (ROOT / "static/css/portal.css").read_bytes()


# Content Security Policy and other headers of a portal page


@pytest.fixture
def keys_page(owner_client):
    return owner_client.get(KEYS_PAGE)


def script_tags(html):
    return re.findall(r"<script\b[^>]*>", html)


def test_portal_pages_carry_a_nonce_based_csp_without_unsafe_inline(keys_page):
    assert keys_page.status_code == 200
    csp = keys_page["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert re.search(r"'nonce-[^']+'", directives["script-src"])
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == "'none'"


def test_the_htmx_script_tag_carries_the_nonce_from_the_csp_header(keys_page):
    nonce = re.search(r"'nonce-([^']+)'", keys_page["Content-Security-Policy"]).group(1)
    html = keys_page.content.decode()
    htmx = [tag for tag in script_tags(html) if "htmx" in tag]
    assert htmx, "the page loads htmx"
    assert all(f'nonce="{nonce}"' in tag for tag in htmx)


def test_each_response_gets_a_fresh_nonce(owner_client):
    first = owner_client.get(KEYS_PAGE)["Content-Security-Policy"]
    second = owner_client.get(KEYS_PAGE)["Content-Security-Policy"]
    nonce = re.compile(r"'nonce-([^']+)'")
    assert nonce.search(first).group(1) != nonce.search(second).group(1)


def test_pages_have_no_inline_scripts_or_styles_without_a_nonce(keys_page):
    html = keys_page.content.decode()
    for tag in script_tags(html):
        assert "src=" in tag or "nonce=" in tag, tag
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\shx-on[:-]", html)


def test_every_script_and_stylesheet_of_a_page_is_served_by_the_site_itself(keys_page, client):
    html = keys_page.content.decode()
    assets = re.findall(r'<script\b[^>]*\bsrc="([^"]+)"', html)
    assets += re.findall(r'<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"', html)
    assert any("htmx" in url for url in assets)
    for url in assets:
        assert url.startswith("/static/"), url
        assert client.get(url).status_code == 200, url


def test_portal_pages_carry_the_security_headers(keys_page):
    assert keys_page["X-Frame-Options"] == "DENY"
    assert keys_page["X-Content-Type-Options"] == "nosniff"
    assert keys_page["Referrer-Policy"] == "same-origin"
    assert keys_page["Cross-Origin-Opener-Policy"] == "same-origin"


def test_a_portal_post_without_a_csrf_token_is_refused(tenant, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(KEYS_PAGE, {"name": "no token"})
    assert response.status_code == 403
    assert not tenant.api_keys.exists()


# The WSGI application under gunicorn, as deployed


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """collectstatic, then gunicorn -c gunicorn.conf.py portal.wsgi:application, DEBUG off."""
    tmp_path = tmp_path_factory.mktemp("deploy")
    # Production settings, with STATIC_ROOT and the database moved out of the project folder.
    (tmp_path / "deploy_settings.py").write_text(
        f"from portal.settings import *  # noqa\nSTATIC_ROOT = {str(tmp_path / 'static')!r}\n"
    )
    port = free_port()
    env = clean_env(
        **{**PRODUCTION, "ALLOWED_HOSTS": "127.0.0.1"},
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="deploy_settings",
        PYTHONPATH=f"{tmp_path}:{ROOT}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [gunicorn, "-c", "gunicorn.conf.py", "portal.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fetch(base + "/healthz")
                break
            except OSError:
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start within 30 s"
                time.sleep(0.2)
        yield base, tmp_path / "static"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_serves_healthz_and_collected_static_files(deployed):
    base, static_root = deployed
    status, _, body = fetch(base + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})

    # collectstatic wrote content-hashed names; whitenoise serves them cacheable forever.
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    hashed = manifest["css/portal.css"]
    assert hashed != "css/portal.css"
    status, headers, body = fetch(f"{base}/static/{hashed}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert len(body) > 0
    assert "immutable" in headers["Cache-Control"]


def test_gunicorn_answers_json_errors_under_the_api(deployed):
    base, _ = deployed
    status, headers, body = fetch(base + "/t/acme-corp/api/v1/admin/no-such-thing")
    assert status == 404, body
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == status
