"""The client address of the request being served, for audit records made deep in services
that are given no request."""

from __future__ import annotations

from contextvars import ContextVar

from django.http import HttpRequest

current_ip: ContextVar[str | None] = ContextVar("audit_current_ip", default=None)


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For can be forged by any client unless a trusted proxy
    # rewrites it, and a reverse proxy that does can set REMOTE_ADDR itself.
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = current_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            current_ip.reset(token)
