"""The client address of the request being served, for audit records made deep in services
that are given no request, and for the log-in limits (django-axes)."""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

current_ip: ContextVar[str | None] = ContextVar("audit_current_ip", default=None)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _address(text: str) -> Address | None:
    """The address in TEXT: 203.0.113.9, 203.0.113.9:4711, 2001:db8::1 or [2001:db8::1]:4711."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR; or, when that is one of settings.TRUSTED_PROXIES, the right-most address
    in X-Forwarded-For that is not one of them: proxies append the address they were reached
    from, so everything left of that could be written by the client itself. Without trusted
    proxies the header is ignored."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = _networks(tuple(settings.TRUSTED_PROXIES))
    peer = _address(remote or "")
    if not trusted or peer is None or not any(peer in net for net in trusted):
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return remote  # not an address a proxy of ours wrote: go no further
        if not any(address in net for net in trusted):
            return str(address)
    # Only trusted proxies in the chain: the first of them is where the request came from.
    return str(_address(hops[0])) if hops else remote


class AuditContextMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = current_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            current_ip.reset(token)
