"""Triggers: a schedule polled by the real worker's own loop, new S3 objects against the test
S3 server (each handled once), a new snapshot."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from processes import bpmn
from processes.models import ProcessRun, RunStatus, Trigger
from processes.services import process_create_bpmn
from processes.triggers import triggers_poll
from tests.factories import SnapshotFactory

EMPTY = bpmn.linear_bpmn(process_id="nothing", name="Nothing", steps=[])


@pytest.fixture
def process(alice, alice_snapshot):
    return process_create_bpmn(user=alice, name="Poll", model=alice_snapshot.model, xml=EMPTY)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_due_schedule_starts_one_run_in_the_worker_and_sets_the_next_time(celery_worker, process):
    past = timezone.now() - timedelta(minutes=5)
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.SCHEDULE, cron="*/10 * * * *", next_run_at=past
    )
    deadline = time.monotonic() + 30
    while not ProcessRun.objects.filter(process=process).exists():
        assert time.monotonic() < deadline, "the worker's loop started no run"
        time.sleep(0.2)
    time.sleep(3)  # more polls: still one run for that due time
    run = ProcessRun.objects.get(process=process)
    assert run.trigger_kind == Trigger.Kind.SCHEDULE
    assert run.trigger_data == {"scheduled_for": past.isoformat()}
    trigger.refresh_from_db()
    assert trigger.next_run_at > timezone.now()
    assert trigger.next_run_at.minute % 10 == 0
    deadline = time.monotonic() + 30
    while run.status != RunStatus.SUCCEEDED:  # a process with no step ends at once
        assert time.monotonic() < deadline, run.status
        time.sleep(0.2)
        run.refresh_from_db()


@pytest.mark.django_db
def test_a_new_schedule_waits_for_its_first_time(process):
    trigger = Trigger.objects.create(process=process, kind=Trigger.Kind.SCHEDULE, cron="0 6 * * 1")
    assert triggers_poll() == 0
    trigger.refresh_from_db()
    assert trigger.next_run_at.weekday() == 0 and trigger.next_run_at.hour == 6
    assert not ProcessRun.objects.exists()


@pytest.mark.django_db
def test_each_new_s3_object_starts_one_run(process, s3_server, s3_bucket, settings):
    settings.PROCESSES_POLL_SECONDS = 0  # every poll lists the prefix
    client = s3_server.client()
    connection = s3_server.connection()
    connection.save()
    client.put_object(Bucket=s3_bucket, Key="labeled/2026-01.csv", Body=b"a\n1\n")
    client.put_object(Bucket=s3_bucket, Key="other/x.csv", Body=b"a\n1\n")
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.S3_OBJECTS, connection=connection,
        location=f"s3://{s3_bucket}/labeled/",
    )  # fmt: skip

    assert triggers_poll() == 1
    assert triggers_poll() == 0
    client.put_object(Bucket=s3_bucket, Key="labeled/2026-02.csv", Body=b"a\n2\n")
    assert triggers_poll() == 1

    runs = ProcessRun.objects.filter(process=process).order_by("pk")
    assert [r.trigger_data["location"] for r in runs] == [
        f"s3://{s3_bucket}/labeled/2026-01.csv",
        f"s3://{s3_bucket}/labeled/2026-02.csv",
    ]
    assert all(r.trigger_data["connection"] == connection.pk for r in runs)
    trigger.refresh_from_db()
    assert trigger.last_error == ""


@pytest.mark.django_db
def test_an_s3_trigger_on_a_missing_bucket_says_why_on_the_trigger(process, s3_server):
    connection = s3_server.connection()
    connection.save()
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.S3_OBJECTS, connection=connection,
        location="s3://no-such-bucket/labeled/",
    )  # fmt: skip
    assert triggers_poll() == 0
    trigger.refresh_from_db()
    assert "bucket 'no-such-bucket' does not exist" in trigger.last_error
    assert not ProcessRun.objects.exists()


@pytest.mark.django_db
def test_a_new_snapshot_starts_a_run(process, alice_snapshot):
    Trigger.objects.create(process=process, kind=Trigger.Kind.SNAPSHOT)
    assert triggers_poll() == 0  # the snapshots there already are do not count
    v2 = SnapshotFactory(model=alice_snapshot.model, version=2)
    assert triggers_poll() == 1
    assert triggers_poll() == 0
    assert ProcessRun.objects.get().trigger_data == {"snapshot": str(v2.uuid)}


@pytest.mark.django_db
def test_a_trigger_with_a_bad_cron_or_no_connection_is_refused_in_the_admin(process):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="not a cron expression"):
        Trigger(process=process, kind=Trigger.Kind.SCHEDULE, cron="daily").full_clean()
    with pytest.raises(ValidationError, match="Choose the S3 connection"):
        Trigger(process=process, kind=Trigger.Kind.S3_OBJECTS, location="s3://b/p/").full_clean()


@pytest.mark.django_db
def test_an_s3_prefix_is_listed_at_most_every_poll_interval(process, s3_server, s3_bucket):
    connection = s3_server.connection()
    connection.save()
    Trigger.objects.create(
        process=process, kind=Trigger.Kind.S3_OBJECTS, connection=connection,
        location=f"s3://{s3_bucket}/labeled/",
    )  # fmt: skip
    assert triggers_poll() == 0
    s3_server.client().put_object(Bucket=s3_bucket, Key="labeled/a.csv", Body=b"a\n1\n")
    assert triggers_poll() == 0  # within PROCESSES_POLL_SECONDS (60) of the last listing
    assert triggers_poll(now=timezone.now() + timedelta(seconds=61)) == 1


# --- New files under an HDFS folder, a SQL query whose result changed -------------------------


def _hdfs_put(webhdfs_server, path: str, data: bytes = b"a\n1\n") -> None:
    local = webhdfs_server.local(path)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)


@pytest.mark.django_db
def test_each_new_hdfs_file_starts_one_run(process, webhdfs_server, settings):
    settings.PROCESSES_POLL_SECONDS = 0  # every poll lists the folder
    connection = webhdfs_server.connection()
    connection.save()
    _hdfs_put(webhdfs_server, "/landing/labeled/2026-01.csv")
    _hdfs_put(webhdfs_server, "/landing/labeled/_SUCCESS", b"")  # hidden: never a run
    _hdfs_put(webhdfs_server, "/landing/labeled/_temporary/0/part-0.csv")  # a writer's temp
    _hdfs_put(webhdfs_server, "/landing/other/x.csv")
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.HDFS_FILES, connection=connection,
        location="hdfs://nn/landing/labeled",
    )  # fmt: skip

    assert triggers_poll() == 1
    assert triggers_poll() == 0
    _hdfs_put(webhdfs_server, "/landing/labeled/2026/02.csv")  # a subfolder's file too
    assert triggers_poll() == 1

    runs = ProcessRun.objects.filter(process=process).order_by("pk")
    assert [r.trigger_data["location"] for r in runs] == [
        "hdfs://nn/landing/labeled/2026-01.csv",
        "hdfs://nn/landing/labeled/2026/02.csv",
    ]
    assert all(r.trigger_data["connection"] == connection.pk for r in runs)
    trigger.refresh_from_db()
    assert trigger.last_error == ""


@pytest.mark.django_db
def test_an_hdfs_trigger_on_a_missing_folder_says_why_on_the_trigger(process, webhdfs_server):
    connection = webhdfs_server.connection()
    connection.save()
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.HDFS_FILES, connection=connection,
        location="hdfs://nn/no/such/folder",
    )  # fmt: skip
    assert triggers_poll() == 0
    trigger.refresh_from_db()
    assert "no such file or folder /no/such/folder" in trigger.last_error
    assert not ProcessRun.objects.exists()


@pytest.mark.django_db
def test_a_run_of_an_hdfs_trigger_reads_the_new_file_as_its_input(process, webhdfs_server):
    from jobs.models import JobAsset
    from processes.engine import _input

    connection = webhdfs_server.connection()
    connection.save()
    run = ProcessRun.objects.create(
        process=process, trigger_kind=Trigger.Kind.HDFS_FILES,
        trigger_data={"location": "hdfs://nn/landing/a.csv", "connection": connection.pk},
    )  # fmt: skip
    spec = _input(run, {"trigger": "location"})
    assert (spec.kind, spec.location, spec.connection) == (
        JobAsset.Kind.HDFS, "hdfs://nn/landing/a.csv", connection
    )  # fmt: skip


def _sqlite_db(path):
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE labeled (id INTEGER PRIMARY KEY, batch TEXT)")
    conn.execute("INSERT INTO labeled (batch) VALUES ('2026-01')")
    conn.commit()
    conn.close()


def _sqlite_insert(path, batch: str) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO labeled (batch) VALUES (?)", (batch,))
    conn.commit()
    conn.close()


def _sql_connection(path):
    from jobs.models import Connection

    return Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=f"sqlite:///{path}",
        statement_timeout_seconds=10,
    )  # fmt: skip


@pytest.mark.django_db
def test_a_sql_trigger_records_its_first_result_and_fires_when_it_changes(
    process, tmp_path, settings
):
    settings.PROCESSES_POLL_SECONDS = 0
    db = tmp_path / "warehouse.db"
    _sqlite_db(db)
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.SQL_CHANGED, connection=_sql_connection(db),
        query="SELECT max(id), count(*) FROM labeled",
    )  # fmt: skip

    assert triggers_poll() == 0  # the first poll records the result as it is: no run
    trigger.refresh_from_db()
    first = trigger.state["hash"]
    assert triggers_poll() == 0  # unchanged
    _sqlite_insert(db, "2026-02")
    assert triggers_poll() == 1
    assert triggers_poll() == 0

    run = ProcessRun.objects.get(process=process)
    trigger.refresh_from_db()
    assert run.trigger_kind == Trigger.Kind.SQL_CHANGED
    assert run.trigger_data["previous_hash"] == first
    assert run.trigger_data["result_hash"] == trigger.state["hash"] != first
    assert run.trigger_data["rows"] == 1
    assert trigger.last_error == ""


@pytest.mark.django_db
def test_a_sql_trigger_whose_table_is_gone_says_why_on_the_trigger(process, tmp_path):
    db = tmp_path / "warehouse.db"
    _sqlite_db(db)
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.SQL_CHANGED, connection=_sql_connection(db),
        query="SELECT count(*) FROM no_such_table",
    )  # fmt: skip
    assert triggers_poll() == 0
    trigger.refresh_from_db()
    assert "no such table: no_such_table" in trigger.last_error


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"kind": "schedule", "cron": "every day"}, "cron", "is not a cron expression"),
        ({"kind": "s3_objects", "location": "s3://b/p/"}, "connection", "Choose the S3"),
        ({"kind": "hdfs_files", "location": "/landing"}, "location", "is not an HDFS location"),
        ({"kind": "sql_changed", "query": "DELETE FROM labeled"}, "query", "not DELETE"),
        ({"kind": "sql_changed", "query": "SELECT 1; DROP TABLE labeled"}, "query",
         "holds 2 statements"),
        ({"kind": "sql_changed", "query": "SELECT pg_sleep(100)"}, "query", "pg_sleep"),
        ({"kind": "job_finished", "job_type": "cooking"}, "job_type", "Unknown job type"),
    ],
)  # fmt: skip
def test_a_trigger_is_checked_for_its_kind_with_a_reason(
    process, alice, tmp_path, webhdfs_server, values, field, message
):
    from django.core.exceptions import ValidationError

    from processes.services import trigger_create

    if values["kind"] == "sql_changed":
        db = tmp_path / "warehouse.db"
        _sqlite_db(db)
        values = {**values, "connection": _sql_connection(db)}
    if values["kind"] == "hdfs_files":
        connection = webhdfs_server.connection()
        connection.save()
        values = {**values, "connection": connection}
    with pytest.raises(ValidationError) as caught:
        trigger_create(process=process, user=alice, values=values)
    assert message in " ".join(caught.value.message_dict[field])
    assert not Trigger.objects.exclude(kind=Trigger.Kind.MANUAL).exists()


@pytest.mark.django_db
def test_a_trigger_polls_only_through_a_connection_of_its_kind(process, alice, s3_server):
    from django.core.exceptions import ValidationError

    from processes.services import trigger_create

    s3 = s3_server.connection()
    s3.save()
    with pytest.raises(ValidationError, match="this trigger polls HDFS"):
        trigger_create(process=process, user=alice, values={
            "kind": "hdfs_files", "connection": s3, "location": "hdfs://nn/x"})  # fmt: skip


@pytest.mark.django_db
def test_a_trigger_may_not_use_a_connection_of_another_team(process, alice, tmp_path):
    from django.core.exceptions import ValidationError

    from processes.services import trigger_create
    from tests.factories import GroupFactory

    db = tmp_path / "warehouse.db"
    _sqlite_db(db)
    connection = _sql_connection(db)
    connection.teams.add(GroupFactory(name="elsewhere"))
    with pytest.raises(ValidationError, match="Choose a connection your team may use"):
        trigger_create(process=process, user=alice, values={
            "kind": "sql_changed", "connection": connection, "query": "SELECT 1"})  # fmt: skip


# --- Through the real worker's loop -----------------------------------------------------------


def _wait(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_new_hdfs_files_start_runs_in_the_worker(celery_worker, process, webhdfs_server):
    connection = webhdfs_server.connection()
    connection.save()
    _hdfs_put(webhdfs_server, "/landing/2026-01.csv")
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.HDFS_FILES, connection=connection,
        location="hdfs://nn/landing",
    )  # fmt: skip
    runs = ProcessRun.objects.filter(process=process)
    _wait(lambda: runs.count() == 1, "the worker's loop started no run for the file")
    _hdfs_put(webhdfs_server, "/landing/2026-02.csv")
    Trigger.objects.filter(pk=trigger.pk).update(next_run_at=None)  # its poll interval is over
    _wait(lambda: runs.count() == 2, "the worker's loop started no run for the second file")
    Trigger.objects.filter(pk=trigger.pk).update(next_run_at=None)
    _wait(lambda: Trigger.objects.get(pk=trigger.pk).next_run_at is not None, "no third poll")
    assert sorted(r.trigger_data["location"] for r in runs) == [
        "hdfs://nn/landing/2026-01.csv", "hdfs://nn/landing/2026-02.csv"
    ]  # fmt: skip
    for run in runs:  # a process with no step ends at once
        _wait(lambda run=run: ProcessRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED,
              "the run did not end")  # fmt: skip


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_changed_sql_result_starts_a_run_in_the_worker(celery_worker, process, tmp_path):
    db = tmp_path / "warehouse.db"
    _sqlite_db(db)
    trigger = Trigger.objects.create(
        process=process, kind=Trigger.Kind.SQL_CHANGED, connection=_sql_connection(db),
        query="SELECT batch FROM labeled ORDER BY id",
    )  # fmt: skip
    _wait(lambda: "hash" in Trigger.objects.get(pk=trigger.pk).state, "no first poll")
    assert not ProcessRun.objects.filter(process=process).exists()  # the baseline: no run
    _sqlite_insert(db, "2026-02")
    Trigger.objects.filter(pk=trigger.pk).update(next_run_at=None)
    _wait(lambda: ProcessRun.objects.filter(process=process).exists(), "no run for the change")
    run = ProcessRun.objects.get(process=process)
    assert (run.trigger_kind, run.trigger_data["rows"]) == (Trigger.Kind.SQL_CHANGED, 2)
    _wait(lambda: ProcessRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED, "no end")
