from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connections as db_connections
from django.http import HttpRequest

T = TypeVar("T")


def wants_partial(request: HttpRequest) -> bool:
    """True for an htmx request that swaps a region; a history-restore request (htmx found no
    cached copy of the page on Back) needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def call_with_timeout(fn: Callable[[], T], *, timeout: float) -> tuple[bool, T | None]:
    """(True, FN()) if FN returns within TIMEOUT seconds, else (False, None); FN's exception
    is raised here. FN runs in a daemon thread, so a call that hangs on the network is left
    behind instead of holding the request (or the interpreter's exit)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            db_connections.close_all()  # this thread's own database connections, if any

    thread = threading.Thread(target=run, daemon=True, name="call-with-timeout")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return False, None
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return True, outcome.get("value")  # type: ignore[return-value]
