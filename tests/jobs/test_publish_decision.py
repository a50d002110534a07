"""Publishing an external output and completing the job are one decision (job_execute in
this process, a SQLite table as the target): a cancel before the point of no return leaves
the table exactly as it was, one after it is refused and the job completes, and a commit
tried again after a database error leaves one copy of an append."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import OperationalError

from jobs.models import Connection, JobAsset, JobStatus
from jobs.services import OutputSpec, job_cancel, lifecycle
from jobs.worker import supervisor
from jobs.worker.supervisor import job_execute
from tests.jobs.test_executor_supervisor import embedded, snapshot_of, submit

pytestmark = pytest.mark.django_db(transaction=True)

ECHO = "# modelop.score\ndef action(datum):\n    yield {'id': datum['id'], 'label': 'new'}\n"


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    return in_process_executor


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.sqldb"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE scores (id INTEGER, label TEXT)")
    db.execute("INSERT INTO scores VALUES (0, 'old')")
    connection = Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=f"sqlite:///{path}",
        statement_timeout_seconds=30,
    )  # fmt: skip
    connection.rows = lambda: db.execute("SELECT id, label FROM scores ORDER BY id").fetchall()
    yield connection
    db.close()


def score(alice, team_alpha, warehouse, mode: str):
    return submit(
        alice, snapshot_of(ECHO, owner=alice, team=team_alpha),
        embedded({"id": 1}, {"id": 2}),
        output=OutputSpec(kind=JobAsset.Kind.SQL, connection=warehouse, location="scores",
                          write_mode=mode),
    )  # fmt: skip


def decide_then(monkeypatch, *, before=None, after=None):
    """Wrap the point of no return: BEFORE(job) just ahead of it, AFTER(job) right after."""
    real = lifecycle.job_publish_decide

    def decide(*, job, **kwargs):
        if before:
            before(job)
        decided = real(job=job, **kwargs)
        if after:
            after(job)
        return decided

    monkeypatch.setattr(supervisor, "job_publish_decide", decide)


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_a_cancel_while_the_output_is_published_leaves_the_table_as_it_was(
    alice, team_alpha, warehouse, monkeypatch, mode
):
    job = score(alice, team_alpha, warehouse, mode)
    decide_then(monkeypatch, before=lambda job: job_cancel(job=job, by=alice))

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert warehouse.rows() == [(0, "old")]
    assert job.publishing == {}


@pytest.mark.parametrize("mode", ["replace", "append"])
def test_a_cancel_after_the_point_of_no_return_is_refused_and_the_job_completes(
    alice, team_alpha, warehouse, monkeypatch, mode
):
    job = score(alice, team_alpha, warehouse, mode)
    refused = []
    decide_then(monkeypatch, after=lambda job: refused.append(not job_cancel(job=job, by=alice)))

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert refused == [True]
    assert job.status == JobStatus.COMPLETE, job.error_message
    new = [(1, "new"), (2, "new")]
    assert warehouse.rows() == (new if mode == "replace" else [(0, "old"), *new])


def test_a_database_error_after_an_append_was_published_leaves_one_copy(
    alice, team_alpha, warehouse, monkeypatch, settings
):
    # COMPLETE fails once after the table's commit; the commit is tried again as a whole.
    settings.DB_RETRY_SECONDS = 5
    job = score(alice, team_alpha, warehouse, "append")
    real, failures = supervisor.job_complete, []

    def complete_failing_once(**kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(supervisor, "job_complete", complete_failing_once)

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert failures == [1]
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert warehouse.rows() == [(0, "old"), (1, "new"), (2, "new")]
