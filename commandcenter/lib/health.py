"""GET /healthz: does the database answer, does the broker? For load balancers and monitors:
no login, no CSRF, no session; a `SELECT 1` and a broker check with a short timeout.

What is down is named, never how it failed (an address or a database name is no business of
an anonymous caller's); the server log says that, once per outage.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from commandcenter.lib.outage import OutageLog, outage_log

BROKER_TIMEOUT_SECONDS = 1.0

broker_log = OutageLog("The broker")


class _Down(Exception):
    """Why the broker is down, in words fit for an anonymous caller."""


def database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        outage_log.failed(exc)
        return f"down: not answering ({type(exc).__name__})"
    outage_log.passed()
    return "ok"


def _embedded_broker_check(options: dict) -> str:
    """The filesystem broker answers when its folders are there and take a new file."""
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        folder = Path(options[key])
        if not folder.is_dir():
            raise _Down(f"its folder {folder.name} is missing")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _Down(f"its folder {folder.name} is not writable")
    # Messages are written in a side folder first (commandcenter/lib/fsbroker.py); a file made
    # there also finds a full disk or a file system gone read-only, which os.access does not.
    side = Path(options["data_folder_out"]).parent / "tmp"
    try:
        side.mkdir(mode=0o700, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=side, prefix=".healthz-"):
            pass
    except OSError as exc:
        raise _Down(f"cannot write a message ({exc.strerror or type(exc).__name__})") from exc
    return "ok"


_redis_clients: dict = {}


def _redis_check(url: str) -> str:
    """A PING on a connection kept from the last check (its pool is thread-safe): a probe
    every few seconds from each load balancer need not open a connection each time."""
    client = _redis_clients.get(url)
    if client is None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = _redis_clients[url] = redis.Redis.from_url(
            url,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),  # one try: the timeout above is the whole wait
        )
    from redis.exceptions import ConnectionError

    try:
        try:
            client.ping()
        except ConnectionError:  # a kept connection the broker closed (a restart)? a new one
            client.connection_pool.disconnect()
            client.ping()
    except Exception:
        client.connection_pool.disconnect()  # the next check connects afresh
        raise
    return "ok"


def _kombu_check(url: str) -> str:
    from kombu import Connection

    with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    return "ok"


def broker_check() -> str:
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith("filesystem://"):
            status = _embedded_broker_check(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
        elif url.startswith(("redis://", "rediss://")):
            status = _redis_check(url)
        else:
            status = _kombu_check(url)
    except Exception as exc:  # whatever the client raises, the broker did not answer
        broker_log.failed(exc)
        if isinstance(exc, _Down):
            return f"down: {exc}"
        if "timeout" in type(exc).__name__.lower():
            return f"down: no answer within {BROKER_TIMEOUT_SECONDS:g} s"
        return f"down: not answering ({type(exc).__name__})"
    broker_log.passed()
    return status


def health() -> dict[str, str]:
    return {"database": database_check(), "broker": broker_check()}


@login_not_required
@csrf_exempt
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when everything answers, else 503; either way, each part's state."""
    checks = health()
    ok = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ok else "down", **checks}, status=200 if ok else 503)
