"""Where a webhook may point: https and public addresses only (SPEC §11).

Checked at creation (`check_url`, a 400) and again at delivery against the address actually
connected (`ConnectedAddressFilter`, requests-hardened's IP filter plus the forms it lets through).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # `::a.b.c.d`, deprecated by RFC 4291
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def allow_private() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, NAT64), if any: the network may
    route it to that IPv4 address, so that is the one to judge."""
    for embedded in (addr.ipv4_mapped, addr.sixtofour):
        if embedded is not None:
            return embedded
    if addr in NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def is_public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in IPV4_COMPATIBLE:
            return False  # `::a.b.c.d`: no public service answers on a deprecated form
        if addr.is_site_local:  # fec0::/10: deprecated, yet still routed inside some networks
            return False
        addr = _embedded_ipv4(addr) or addr
    return addr.is_global and not addr.is_multicast


def resolve(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


def check_url(url: str) -> str | None:
    """Why `url` may not be a webhook target, or None when it may."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 — raises ValueError on a bad port
    except ValueError:
        return "Not a valid URL."
    schemes = ("https", "http") if allow_private() else ("https",)
    if parts.scheme not in schemes or not host:
        return "The URL must use https." if parts.scheme else "Not a valid URL."
    if parts.username or parts.password:
        return "The URL may not carry credentials."
    if allow_private():
        return None
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError):
        return "The host name does not resolve."
    if not addresses or not all(is_public(a) for a in addresses):
        return "The URL must resolve only to public addresses."
    return None


class ConnectedAddressFilter(IPFilterAdapter):
    """requests-hardened's IP filter (it pins the connection to the address it resolved and
    refuses loopback, private, link-local, CGNAT, multicast and IPv4-mapped ones), then
    `is_public` on that same pinned address, for the forms it lets through (`::a.b.c.d`,
    `fec0::/10`)."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pinned = host_params["host"].strip("[]")
        if not is_public(pinned):
            raise InvalidIPAddress(pinned)
        return host_params, pool_kwargs
