import ipaddress
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
    "https://172.16.0.1/",
    "https://0.0.0.0/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[ff02::1]/",
    # IPv4-compatible (::a.b.c.d) and site-local (fec0::/10) forms.
    "https://[::127.0.0.1]/",
    "https://[::10.0.0.1]/",
    "https://[::8.8.8.8]/",
    "https://[fec0::1]/",
    "https://[fed0:1::5]/",
    # Other IPv6 forms that carry a private IPv4 address: 6to4 and NAT64.
    "https://[2002:a00:1::1]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[::ffff:100.64.0.1]/",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_targets_are_refused(url):
    assert ssrf.check_url(url) is not None


@pytest.mark.parametrize(
    "ip", ["::127.0.0.1", "::10.0.0.1", "::192.168.0.1", "fec0::1", "feff::1", "::ffff:10.0.0.1"]
)
def test_a_host_resolving_to_an_ipv4_compatible_or_site_local_address_is_refused(monkeypatch, ip):
    monkeypatch.setattr(ssrf, "resolve", lambda host: [ip])
    assert "public" in ssrf.check_url("https://hooks.example.test/")


@pytest.mark.parametrize("ip", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_pass(ip):
    assert ssrf.is_public(ip)


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
    assert services.deliver_due() == 1
    d.refresh_from_db()
    assert d.attempts[0]["statusCode"] is None
    assert "InvalidIPAddress" in d.attempts[0]["error"]
    assert len(httpserver.log) == 0


@pytest.mark.parametrize("connected", ["::127.0.0.1", "::10.0.0.1", "fec0::1"])
def test_delivery_refuses_ipv4_compatible_and_site_local_connected_addresses(
    tenant, monkeypatch, connected
):
    """requests-hardened's own filter lets these forms through; the address the connection is
    pinned to is checked again."""
    from webhooks import services, signing
    from webhooks.models import Webhook

    real = socket.getaddrinfo

    def dns(host, port, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (connected, port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    hook = Webhook.objects.create(
        tenant=tenant,
        url="https://hooks.example.test/hook",
        secret_encrypted=signing.encrypt(signing.new_secret()),
    )
    d = services.send_test(tenant, services.system_actor("t"), hook)
    assert services.deliver_due() == 1
    d.refresh_from_db()
    assert d.attempts[0]["statusCode"] is None
    assert d.attempts[0]["error"] == f"InvalidIPAddress: {ipaddress.ip_address(connected)}"
