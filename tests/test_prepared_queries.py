"""Prepared queries (commandcenter/lib/prepared.py) give what their query sets give."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from commandcenter.lib.prepared import PreparedQuery
from jobs.models import Job, JobStatus
from jobs.selectors import job_list
from jobs.views._common import ETAG_FIELDS
from tests.jobs.test_job_list_rows import make_job

pytestmark = pytest.mark.django_db


def _visible_state(is_staff, *, user_id, job_uuid):
    user = get_user_model()(pk=user_id, is_staff=is_staff)
    return job_list(user=user).filter(uuid=job_uuid).order_by().values_list(*ETAG_FIELDS)[:1]


visible_state = PreparedQuery(_visible_state)


def test_a_prepared_query_gives_each_user_what_its_query_set_gives(
    alice, bob, charlie, staff, alice_snapshot
):
    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING, started_at=timezone.now())
    for user in (alice, bob, charlie, staff):
        expected = list(
            job_list(user=user).filter(uuid=job.uuid).order_by().values_list(*ETAG_FIELDS)
        )
        got = visible_state.rows(user.is_staff, user_id=user.pk, job_uuid=job.uuid)
        assert got == expected, user.username
    assert visible_state.rows(False, user_id=charlie.pk, job_uuid=job.uuid) == []
    # Values as the ORM gives them: a UUID, aware datetimes, the status' text.
    (state,) = visible_state.rows(False, user_id=alice.pk, job_uuid=job.uuid)
    assert state[0] == job.uuid and state[1] == "RUNNING" and state[3].tzinfo is not None


def test_another_job_or_user_is_asked_for_with_the_same_sql(alice, bob, alice_snapshot):
    jobs = [make_job(alice_snapshot, alice) for _ in range(3)]
    for job in jobs:
        (state,) = visible_state.rows(False, user_id=bob.pk, job_uuid=job.uuid)
        assert state[0] == job.uuid
    assert visible_state.rows(False, user_id=bob.pk, job_uuid=uuid.uuid4()) == []


@pytest.mark.django_db(transaction=True)
def test_each_thread_compiles_it_for_its_own_connection(alice, alice_snapshot):
    job = make_job(alice_snapshot, alice)
    expected = visible_state.rows(False, user_id=alice.pk, job_uuid=job.uuid)
    got = []

    def other_thread():
        from django.db import connections

        try:
            got.extend(visible_state.rows(False, user_id=alice.pk, job_uuid=job.uuid))
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(30)
    assert expected and got == expected


def test_a_none_is_asked_for_as_the_query_set_asks_for_it(alice, alice_snapshot):
    placed = make_job(alice_snapshot, alice)
    unplaced = make_job(alice_snapshot, alice)
    Job.objects.filter(pk=unplaced.pk).update(runtime=None)
    by_runtime = PreparedQuery(
        lambda *, runtime_id: Job.objects.filter(runtime_id=runtime_id).values_list("pk")
    )

    assert by_runtime.rows(runtime_id=None) == [(unplaced.pk,)]  # IS NULL, not = NULL
    assert by_runtime.rows(runtime_id=placed.runtime_id) == [(placed.pk,)]


def test_a_value_the_orm_changes_on_its_way_to_the_sql_is_asked_for_unprepared(
    alice, bob, alice_snapshot
):
    make_job(alice_snapshot, alice)
    bobs = make_job(alice_snapshot, bob)
    by_name = PreparedQuery(
        lambda *, text: Job.objects.filter(created_by__username__icontains=text).values_list("pk")
    )
    assert by_name.rows(text="bo") == [(bobs.pk,)]  # in a LIKE pattern: built each time
    assert by_name.count(text="bo") == 1


def test_a_prepared_count_counts_what_the_query_set_counts(alice, charlie, alice_snapshot):
    for _ in range(3):
        make_job(alice_snapshot, alice)
    visible = PreparedQuery(
        lambda is_staff, *, user_id: job_list(
            user=get_user_model()(pk=user_id, is_staff=is_staff)
        ).values_list("pk")[:2]
    )
    assert visible.count(False, user_id=alice.pk) == 2  # its LIMIT counts
    assert visible.count(False, user_id=charlie.pk) == 0


def test_on_sqlite_the_sql_is_converted_once_and_a_counted_query_is_seen(alice, alice_snapshot):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING)
    user = dict(user_id=alice.pk, job_uuid=job.uuid)
    assert visible_state.rows(False, **user)  # compiled for this thread
    compiled = visible_state._local.compiled
    qmarks = [c.qmark for c in compiled.values()]
    if connection.vendor == "sqlite":
        assert all(q and "%s" not in q and "?" in q for q in qmarks)
    else:
        assert qmarks and all(q is None for q in qmarks)  # psycopg takes Django's SQL as it is
    with CaptureQueriesContext(connection) as asked:
        found = visible_state.rows(False, **user)
    assert found == list(_visible_state(False, **user)) and len(asked) == 1


def test_the_prepared_query_and_session_tests_pass_on_sqlite_too(tmp_path):
    """The suite runs on PostgreSQL in CI; on SQLite (the embedded default) a prepared query
    runs on the sqlite3 cursor itself: these tests again, there."""
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("this run is on SQLite: these tests ran there already")
    gone = {"DATABASE_URL", "BROKER_URL", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
            "PYTEST_XDIST_TESTRUNUID", "MOC_TEST_WORKER", "DJANGO_SETTINGS_MODULE"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in gone}
    env["DATA_DIR"] = str(tmp_path / "data")
    modules = [__file__, str(Path(__file__).parent / "test_sessions.py")]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "--reuse-db", "-k", "not pass_on_sqlite_too", *modules],
        env=env, cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout, run.stdout[-2000:]
    assert (tmp_path / "data" / "test-db.sqlite3").is_file()  # kept (--reuse-db): SQLite's


def test_raw_rows_are_the_rows_before_their_fields_converters(alice, alice_snapshot):
    from datetime import UTC

    from django.db import connection

    job = make_job(alice_snapshot, alice, status=JobStatus.RUNNING)
    user = dict(user_id=alice.pk, job_uuid=job.uuid)
    raw, rows = visible_state.raw_rows(False, **user), visible_state.rows(False, **user)
    assert len(raw) == len(rows) == 1
    updated = ETAG_FIELDS.index("updated_at")
    if connection.vendor == "sqlite":  # sqlite3 parses a timestamp column: naive, in UTC
        assert raw[0][updated].tzinfo is None and rows[0][updated].tzinfo is not None
        assert raw[0][updated].replace(tzinfo=UTC) == rows[0][updated]
        assert isinstance(raw[0][ETAG_FIELDS.index("uuid")], str)  # a UUID as SQLite keeps it
    else:  # psycopg gives the Python types itself
        assert raw == rows
