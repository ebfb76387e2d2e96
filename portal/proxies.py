"""Addresses and the proxies in front of us (`TRUSTED_PROXIES`), for every part that must know
whether the peer's headers (`X-Forwarded-For`, `X-Request-ID`) can be believed."""

import ipaddress
from functools import cache, lru_cache

from django.conf import settings


@cache
def trusted_networks():
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in settings.TRUSTED_PROXIES)


@lru_cache(maxsize=4096)
def parse_ip(value: str):
    """The address in `value` (an IPv4-mapped IPv6 address as IPv4), or None."""
    # Pure function of the string, and the same few addresses recur: parse each once.
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def is_trusted(ip) -> bool:
    return ip is not None and any(ip in net for net in trusted_networks())


def peer_is_trusted_proxy(request) -> bool:
    """Is the direct peer (REMOTE_ADDR) one of the TRUSTED_PROXIES?"""
    return is_trusted(parse_ip(request.META.get("REMOTE_ADDR", "")))
