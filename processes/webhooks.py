"""A notify step's webhook: a JSON POST that must not reach the command center's own network.

The URL's host is resolved and every address it resolves to must be a public one (not
loopback, private, link-local, multicast, reserved or unspecified) unless
PROCESS_WEBHOOK_ALLOW_PRIVATE is on. The check runs when a process is saved and again when the
step sends, and the request goes to the very address that was checked (the connection is
pinned to it, with the name kept for the Host header and TLS), so a name that resolves to
something else a moment later (DNS rebinding) reaches nothing new. Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError

TIMEOUT_SECONDS = 10
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(ValueError):
    """The URL may not be sent to, or the send failed; the message says why, for a person."""


def _refusal(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    # Most specific first: Python counts loopback, link-local and reserved as private too.
    for test, what in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_reserved", "a reserved"),
        ("is_private", "a private"),
    ):
        if getattr(address, test):
            return f"{what} address"
    if not address.is_global:  # shared (100.64/10), documentation, benchmarking ranges
        return "not a public address"
    return ""


def _parts(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of URL; WebhookRefused for what is not one."""
    text = str(url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"the webhook {text!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused(f"the webhook {text!r} is not an http or https URL")
    if not parts.hostname:
        raise WebhookRefused(f"the webhook {text!r} names no host")
    if parts.username or parts.password:
        raise WebhookRefused("the webhook URL may not hold a user name or password")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def webhook_address(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, path, address to connect to) for URL, or WebhookRefused saying why
    it may not be reached."""
    scheme, host, port, path = _parts(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefused(f"the webhook's host {host!r} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookRefused(f"the webhook's host {host!r} resolves to no address")
    if not settings.PROCESS_WEBHOOK_ALLOW_PRIVATE:
        # Every address, not only the first: which one a client picks is not ours to know.
        for address in addresses:
            if reason := _refusal(address):
                what = (
                    f"{address} is {reason}" if str(address) == host.strip("[]")
                    else f"{host} resolves to {address}, {reason}"
                )  # fmt: skip
                raise WebhookRefused(
                    f"the webhook {scheme}://{host}:{port} is refused: {what}, which a process "
                    "may not reach (an administrator can allow internal webhooks with "
                    "PROCESS_WEBHOOK_ALLOW_PRIVATE)"
                )
    return scheme, host, port, path, str(addresses[0])


def webhook_check(url: str) -> str:
    """URL, stripped, when a notify step may send to it; ValidationError otherwise (forms and
    services, when a process is saved)."""
    try:
        webhook_address(url)
    except WebhookRefused as exc:
        message = str(exc)
        raise ValidationError(message[:1].upper() + message[1:] + ".") from None
    return str(url).strip()


def webhook_post(url: str, body: bytes) -> int:
    """POST BODY (JSON) to URL, checked again now, on a connection pinned to the checked
    address; the HTTP status, or WebhookRefused (refused, unreachable, a redirect, an error
    status)."""
    scheme, host, port, path, address = webhook_address(url)
    shown = f"{scheme}://{host}:{port}"
    kwargs = {}
    if scheme == "https":  # the certificate is checked against the name, not the address
        kwargs = {"server_hostname": host, "assert_hostname": host, "cert_reqs": "CERT_REQUIRED"}
    pool_class = urllib3.HTTPSConnectionPool if scheme == "https" else urllib3.HTTPConnectionPool
    host_header = host if ":" not in host else f"[{host}]"
    if port != (443 if scheme == "https" else 80):
        host_header += f":{port}"
    with pool_class(
        address, port, timeout=urllib3.Timeout(total=TIMEOUT_SECONDS), retries=False, maxsize=1,
        **kwargs,
    ) as pool:  # fmt: skip
        try:
            response = pool.urlopen(
                "POST", path, body=body, redirect=False, retries=False,
                headers={"Host": host_header, "Content-Type": "application/json",
                         "User-Agent": "commandcenter-process-notify"},
                preload_content=False,
            )  # fmt: skip
        except urllib3.exceptions.HTTPError as exc:
            raise WebhookRefused(f"the webhook {shown} did not answer: {exc}") from None
        try:
            response.read(1024, decode_content=False)
        finally:
            response.release_conn()
    if 300 <= response.status < 400:
        where = response.headers.get("Location", "")
        raise WebhookRefused(
            f"the webhook {shown} answered with a redirect ({response.status}"
            + (f" to {where}" if where else "")
            + "), which is not followed: give the final URL"
        )
    if response.status >= 400:
        raise WebhookRefused(f"the webhook {shown} answered HTTP {response.status}")
    return response.status
