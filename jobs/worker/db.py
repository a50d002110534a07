"""The worker's threads and a database that goes away for a while (a restart, a fail-over, a
pooler's idle timeout, SQLite busy with a long write elsewhere).

A connection the server dropped is unusable for good: it is closed here, and the next query
opens a new one. Guarded updates are retried with backoff for DB_RETRY_SECONDS; progress saves
are not waited for (the next one comes soon); what still fails after that is left to the
reconciler, which takes back a job whose supervisor gave up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")
LOST = (OperationalError, InterfaceError)


def connection_drop() -> None:
    """Close this thread's connection, whatever state it is in; the next query reconnects."""
    try:
        if connection.in_atomic_block:
            connection.needs_rollback = True
        connection.close()
    except Exception:  # a broken connection may fail to close too; it is gone either way
        pass
    connection.connection = None  # never keep a broken handle
    connection.closed_in_transaction = False


def db_retry(fn: Callable[[], T], *, what: str, seconds: float | None = None) -> T:
    """FN() again, with backoff (0.2 s doubling to 5 s), while the database does not answer,
    for up to SECONDS (DB_RETRY_SECONDS); then its last error. FN must be safe to repeat:
    a guarded update, or a whole transaction."""
    patience = settings.DB_RETRY_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + patience
    delay, failures = 0.2, 0
    while True:
        try:
            result = fn()
        except LOST as exc:
            connection_drop()
            failures += 1
            if time.monotonic() + delay > deadline:
                logger.error("%s: the database did not answer for %.0f s: %s", what, patience, exc)
                raise
            if failures == 1:
                logger.warning("%s: the database is not answering (%s); retrying", what, exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if failures:
            logger.info("%s: the database answers again (after %d retries)", what, failures)
        return result


def db_try(fn: Callable[[], T], *, what: str, default: T) -> T:
    """FN(), or DEFAULT when the database does not answer now (the connection is dropped, so
    the next call reconnects): for saves that another comes after soon."""
    try:
        return fn()
    except LOST as exc:
        connection_drop()
        logger.warning("%s: the database is not answering (%s); going on", what, exc)
        return default
