"""Where a webhook may point: https and public addresses only (SPEC §11).

Checked at creation (`check_url`, a 400) and again at delivery by requests-hardened's IP filter,
against the address actually connected (`sender`).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from requests_hardened import Config, Manager

CONNECT_TIMEOUT, READ_TIMEOUT = 5, 15


def allow_private() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)


def is_public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None:
            addr = mapped
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


_managers: dict[bool, Manager] = {}


def sender() -> Manager:
    """An HTTP client: no redirects, 5 s / 15 s timeouts, and (unless private targets are
    allowed) an IP filter on the connected address, loopback included."""
    private = allow_private()
    if private not in _managers:
        _managers[private] = Manager(
            Config(
                default_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                never_redirect=True,
                ip_filter_enable=not private,
                ip_filter_allow_loopback_ips=False,
                user_agent_override="Tessera-Webhooks/1",
            )
        )
    return _managers[private]
