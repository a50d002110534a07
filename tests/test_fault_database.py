"""The database away, dropped or busy: no page or API call answers 500.

A persistent connection the server dropped is replaced at the next request; while the
database does not answer, pages and the API say so with a 503 (logged once); SQLite locked by
a long write elsewhere makes a page wait, not fail.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
import time
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import OperationalError, connection, connections
from django.test import Client
from rest_framework.test import APIClient

from api.authentication import token_issue
from commandcenter.lib.outage import is_database_outage, outage_log, server_error
from jobs.models import Job
from tests.faults import database_unreachable

pytestmark = pytest.mark.django_db(transaction=True)

EMBEDDED = {"kind": "embedded", "data": '{"x": 1}\n'}


@pytest.fixture(autouse=True)
def _outage_log_fresh():
    """Each test sees an outage start: the log is per process."""
    outage_log._down = False
    yield
    outage_log._down = False


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {token_issue(user=user).key}")


# --- a connection the server dropped ------------------------------------------------------------


def _wsgi_get(path: str, **headers: str) -> int:
    """GET PATH through Django's WSGI handler in this thread, as a threaded WSGI server does:
    request_started and request_finished fire, so persistent connections are kept between
    requests (the test client keeps them out of its way)."""
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO(),
               **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}  # fmt: skip
    setup_testing_defaults(environ)
    status = []
    body = WSGIHandler()(environ, lambda s, h, exc_info=None: status.append(s))
    b"".join(body)
    body.close()  # request_finished
    return int(status[0].split()[0])


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    """pg_terminate_backend(PID) from another connection; returns once the backend is gone."""
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.05)
        raise AssertionError(f"backend {pid} did not end")
    finally:
        other.close()


def test_a_page_and_an_api_call_on_a_connection_the_server_dropped_answer_normally(alice):
    if connection.vendor != "postgresql":
        pytest.skip("persistent connections are PostgreSQL's (SQLite opens a file)")
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    session = _logged_in(alice).cookies["sessionid"].value
    token = token_issue(user=alice).key
    assert _wsgi_get("/jobs/", cookie=f"sessionid={session}") == 200
    dropped = _backend_pid()  # the connection the request kept

    _terminate(dropped)

    assert _wsgi_get("/jobs/", cookie=f"sessionid={session}") == 200
    assert _backend_pid() != dropped  # a new connection took its place
    _terminate(_backend_pid())
    assert _wsgi_get("/api/jobs/", authorization=f"Token {token}") == 200


def test_a_connection_that_breaks_mid_request_is_closed_at_its_end(alice):
    if connection.vendor != "postgresql":
        pytest.skip("persistent connections are PostgreSQL's (SQLite opens a file)")
    session = _logged_in(alice).cookies["sessionid"].value
    assert _wsgi_get("/jobs/", cookie=f"sessionid={session}") == 200
    _terminate(_backend_pid())
    connection.health_check_done = True  # as if the check had passed just before the drop

    with pytest.raises(OperationalError):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    from django.db import close_old_connections

    close_old_connections()  # what request_finished runs

    assert connection.connection is None
    assert _wsgi_get("/jobs/", cookie=f"sessionid={session}") == 200


# --- the database down ----------------------------------------------------------------------------


def test_pages_say_the_database_is_not_answering_with_a_503_and_retry_after(alice):
    client = _logged_in(alice)

    with database_unreachable():
        page = client.get("/jobs/")
        other = client.get("/models/")

    assert page.status_code == other.status_code == 503
    assert page["Retry-After"] == "5"
    assert page["Content-Type"].startswith("text/html")
    assert b"The database is not answering; try again in a moment." in page.content
    assert client.get("/jobs/").status_code == 200  # and back


def test_the_api_says_the_database_is_not_answering_in_json(alice, alice_snapshot):
    api = _api(alice)

    with database_unreachable():
        listed = api.get("/api/jobs/")
        submitted = api.post("/api/jobs/", {"snapshot": str(alice_snapshot.uuid),
                                            "inputs": [EMBEDDED]}, format="json")  # fmt: skip

    for answer in (listed, submitted):
        assert answer.status_code == 503
        assert answer.json() == {"detail": "The database is not answering; try again in a moment."}
        assert answer["Retry-After"] == "5"
    assert not Job.objects.exists()


def test_an_outage_is_logged_once_and_its_end_once(alice, caplog):
    client = _logged_in(alice)
    caplog.set_level(logging.WARNING, logger="commandcenter.lib.outage")

    with database_unreachable():
        for _ in range(3):
            assert client.get("/jobs/").status_code == 503
    assert client.get("/jobs/").status_code == 200

    messages = [r.getMessage() for r in caplog.records if r.name == "commandcenter.lib.outage"]
    assert len(messages) == 2, messages
    assert messages[0].startswith("The database is not answering (OperationalError: ")
    assert messages[1] == "The database answers again."
    assert not [r for r in caplog.records if r.name == "django.request"]  # no 500 tracebacks


def test_the_database_away_outside_a_view_is_a_503_too(rf):
    """handler500: e.g. the session saved on the way out, after the view."""
    for path, kind in (("/jobs/", "text/html"), ("/api/jobs/", "application/json")):
        try:
            raise OperationalError("server closed the connection unexpectedly")
        except OperationalError:
            answer = server_error(rf.get(path))
        assert answer.status_code == 503 and answer["Content-Type"].startswith(kind)
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(rf.get("/jobs/")).status_code == 500


def test_a_mistaken_sqlite_query_is_no_outage():
    try:
        sqlite3.connect(":memory:").execute("SELECT * FROM nowhere")
    except sqlite3.OperationalError as exc:
        mistake = OperationalError(str(exc))
        mistake.__cause__ = exc
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
    locked = OperationalError("database is locked")
    locked.__cause__ = busy

    assert not is_database_outage(mistake)
    assert is_database_outage(locked)


# --- SQLite busy for a moment -------------------------------------------------------------------


def test_a_write_lock_held_elsewhere_for_two_seconds_fails_no_page(
    alice, alice_snapshot, default_runtime_online, monkeypatch
):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default's SQLite")
    options = connection.settings_dict["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE" and options["timeout"] >= 5
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"  # readers never wait for a writer
    monkeypatch.setattr("jobs.services.placement.job_enqueue", lambda *, job_uuid, queue: True)
    client, api = _logged_in(alice), _api(alice)
    assert client.get("/jobs/").status_code == 200  # warm: templates compiled, user loaded
    locked, released = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE auth_user SET last_name = last_name")  # a long write elsewhere
        locked.set()
        time.sleep(2)
        released.set()
        other.execute("COMMIT")
        other.close()

    submitted: list = []

    def submit() -> None:
        try:
            submitted.append(api.post("/api/jobs/", {"snapshot": str(alice_snapshot.uuid),
                                                     "inputs": [EMBEDDED]}, format="json"))  # fmt: skip
            submitted.append(released.is_set())
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert locked.wait(10)
    writer = threading.Thread(target=submit)
    writer.start()
    page = client.get("/jobs/")
    listed = api.get("/api/jobs/")
    read_while_locked = not released.is_set()
    writer.join(60)
    holder.join(10)

    assert page.status_code == 200 and listed.status_code == 200
    assert read_while_locked
    answer, waited_for_the_lock = submitted
    assert answer.status_code == 201, answer.content
    assert waited_for_the_lock  # it answered after the other write ended, not with an error
    assert Job.objects.count() == 1
