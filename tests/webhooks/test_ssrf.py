import socket

import pytest
from django.test import override_settings

from webhooks import ssrf

PRIVATE = [
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://10.1.2.3/",
    "https://169.254.169.254/latest/meta-data",
    "https://[::ffff:127.0.0.1]/",
    "https://100.64.0.1/",
    "https://192.168.1.1/",
    "https://224.0.0.1/",
    "https://localhost/",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_targets_are_refused(url):
    assert ssrf.check_url(url) is not None


def test_hostname_resolving_to_a_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["93.184.216.34", "10.0.0.5"])
    assert "public" in ssrf.check_url("https://example.test/")


def test_public_https_target_is_allowed(monkeypatch):
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["93.184.216.34"])
    assert ssrf.check_url("https://hooks.example.test/x") is None


def test_http_is_refused_unless_private_targets_are_allowed(monkeypatch):
    monkeypatch.setattr(ssrf, "resolve", lambda host: ["93.184.216.34"])
    assert "https" in ssrf.check_url("http://hooks.example.test/")
    with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
        assert ssrf.check_url("http://127.0.0.1:8000/") is None


def test_unresolvable_host_is_refused(monkeypatch):
    def fail(host):
        raise socket.gaierror("nope")

    monkeypatch.setattr(ssrf, "resolve", fail)
    assert ssrf.check_url("https://nowhere.invalid/") is not None


def test_delivery_checks_the_connected_address(tenant, httpserver):
    """A target that was public at creation but connects to loopback is refused at delivery."""
    from webhooks import services, signing
    from webhooks.models import Webhook

    hook = Webhook.objects.create(
        tenant=tenant,
        url=httpserver.url_for("/hook"),
        secret_encrypted=signing.encrypt(signing.new_secret()),
    )
    d = services.send_test(tenant, services.system_actor("t"), hook)
    d = services.send(d)
    assert d.attempts[0]["statusCode"] is None
    assert "InvalidIPAddress" in d.attempts[0]["error"]
    assert len(httpserver.log) == 0
