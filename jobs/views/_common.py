from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections as db_connections
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404

from jobs.models import Job
from jobs.selectors import job_list

T = TypeVar("T")


def get_job_for_user(request: HttpRequest, job_uuid) -> Job:
    """The job, or 404 when it does not exist or its model belongs to another team."""
    return get_object_or_404(job_list(user=request.user), uuid=job_uuid)


# What a row and the live region show moves with these (updated_at alone would miss an
# UPDATE that forgets it).
ETAG_FIELDS = (
    "uuid", "status", "result", "updated_at", "started_at", "finished_at", "progress_at",
    "records_read", "records_written", "records_rejected", "bytes_read", "bytes_total",
    "attempts", "enqueued_at", "result_snapshot_id",
)  # fmt: skip


ETAG_VERSION = "2"  # bump when the polled templates change


def etag(request: HttpRequest, *parts) -> str:
    """A weak validator of PARTS for this user and CSRF secret (the cancel form's token comes
    from it, so a login that renews it renews every ETag)."""
    if "CSRF_COOKIE" not in request.META:
        get_token(request)  # the secret the page's forms are masked from, made now
    csrf = request.META.get("CSRF_COOKIE", "")
    text = "|".join(str(p) for p in (ETAG_VERSION, request.user.pk, csrf, *parts))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


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
