from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections as db_connections
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from jobs.models import Job
from jobs.selectors import job_list

T = TypeVar("T")


def get_job_for_user(request: HttpRequest, job_uuid) -> Job:
    """The job, or 404 when it does not exist or its model belongs to another team."""
    return get_object_or_404(job_list(user=request.user), uuid=job_uuid)


def wants_partial(request: HttpRequest) -> bool:
    """True for an htmx request that swaps a region; a history-restore request (htmx found no
    cached copy of the page on Back) needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def call_all_with_timeout(
    fns: list[Callable[[], T]], *, timeout: float
) -> list[tuple[bool, T | None, BaseException | None]]:
    """Run every FN at once, each in a daemon thread, and wait at most TIMEOUT seconds for all
    of them together: (finished, value, error) per FN. A call that hangs on the network is
    left behind instead of holding the request (or the interpreter's exit)."""
    outcomes: list[dict] = [{} for _ in fns]

    def run(fn: Callable[[], T], outcome: dict) -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            db_connections.close_all()  # this thread's own database connections, if any
            outcome["done"] = True

    threads = [
        threading.Thread(target=run, args=(fn, outcome), daemon=True, name="call-with-timeout")
        for fn, outcome in zip(fns, outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    return [
        (bool(o.get("done")), o.get("value"), o.get("error"))
        if o.get("done")
        else (False, None, None)
        for o in outcomes
    ]


def call_with_timeout(fn: Callable[[], T], *, timeout: float) -> tuple[bool, T | None]:
    """(True, FN()) if FN returns within TIMEOUT seconds, else (False, None); FN's exception
    is raised here."""
    ((finished, value, error),) = call_all_with_timeout([fn], timeout=timeout)
    if error is not None:
        raise error
    return finished, value
