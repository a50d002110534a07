"""The database away: pages and the API say so with a 503 (and Retry-After), never a 500.

Where a request meets the outage decides who answers: the session and user that
LoginRequiredMiddleware reads before the view (DatabaseOutageMiddleware.process_view), the
view itself (process_exception), or any other middleware, e.g. a session saved on the way out
(handler500, `server_error`). An outage is logged once, when it starts, and once more when a
request gets through again.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

from commandcenter.lib.sessions import along_ask

logger = logging.getLogger(__name__)

MESSAGE = "The database is not answering; try again in a moment."
RETRY_AFTER_SECONDS = 5

# SQLite raises OperationalError for mistakes too ("no such table", a syntax error: its
# SQLITE_ERROR); those are bugs, and stay 500s. These codes are the database being away or busy.
_SQLITE_AWAY = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}


def is_database_outage(exc: BaseException) -> bool:
    """EXC says the database did not answer (connection refused, lost, closed, timed out,
    locked), not that a query was wrong."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.OperationalError):
        return (getattr(cause, "sqlite_errorcode", sqlite3.SQLITE_BUSY) & 0xFF) in _SQLITE_AWAY
    return True  # PostgreSQL's OperationalErrors are all of this kind (classes 08, 40, 53, 57)


class OutageLog:
    """One warning when WHAT stops answering, one when it answers again: not one per request."""

    def __init__(self, what: str, meanwhile: str = "") -> None:
        self.what = what
        self.meanwhile = meanwhile
        self._down = False
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        text = str(exc).strip()
        logger.warning(
            "%s is not answering (%s: %s)%s",
            self.what,
            type(exc).__name__,
            text.splitlines()[0] if text else "",
            self.meanwhile,
        )

    def passed(self) -> None:
        if not self._down:
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        logger.warning("%s answers again.", self.what)


outage_log = OutageLog("The database", "; pages and the API answer 503 until it does.")


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 for REQUEST: JSON {"detail": ...} under /api/, else a page. The page is
    rendered without the request, so that nothing on it (the user, messages) asks the database."""
    outage_log.failed(exc)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        response = HttpResponse(render_to_string("503.html", {"message": MESSAGE}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    # outage_log said it once; Django would log every 5xx answer again, with a traceback.
    response._has_been_logged = True
    return response


class DatabaseOutageMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 500:
            outage_log.passed()
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # LoginRequiredMiddleware (after this one) reads the session and the user before the
        # view runs; read them here first, where a database away is answered as one.
        if not getattr(view_func, "login_required", True):
            return None
        along_ask(request, view_func, view_kwargs)  # what the view reads with the session
        try:
            request.user.is_authenticated  # noqa: B018 - evaluates the lazy user
        except (OperationalError, InterfaceError) as exc:
            if not is_database_outage(exc):
                raise
            return outage_response(request, exc)
        return None

    def process_exception(self, request, exception):
        if is_database_outage(exception):
            return outage_response(request, exception)
        return None


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """handler500: an outage met outside any view (a middleware's database access) is a 503
    too; anything else is Django's own 500."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_outage(exc):
        return outage_response(request, exc)
    return defaults.server_error(request, template_name)
