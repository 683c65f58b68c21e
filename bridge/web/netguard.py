"""Which client is talking, and whether it may: ``allowed_clients`` and proxies.

``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy, and then
only up to the first address that is not itself a trusted proxy.
"""

from __future__ import annotations

import functools
import ipaddress

from aiohttp import web

from bridge.config import ServerSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)  # the same few peers again and again
def _parse(text: str | None) -> Address | None:
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, settings: ServerSettings) -> bool:
    return any(address in network for network in settings.trusted_proxies)


def client_ip(request: web.Request, settings: ServerSettings) -> Address | None:
    peer = _parse(request.remote)
    if peer is None or not _trusted(peer, settings):
        return peer
    forwarded = request.headers.getall("X-Forwarded-For", [])
    hops = [h for header in forwarded for h in header.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            return peer
        if not _trusted(address, settings):
            return address
    return peer


def client_address(request: web.Request, settings: ServerSettings) -> str:
    address = client_ip(request, settings)
    return str(address) if address is not None else str(request.remote)


def client_allowed(request: web.Request, settings: ServerSettings) -> bool:
    if not settings.allowed_clients:
        return True
    address = client_ip(request, settings)
    return address is not None and any(address in net for net in settings.allowed_clients)
