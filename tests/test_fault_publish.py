"""Publishing an external output and completing its job are one decision, through real
workers: a cancel at the moment of publishing (SQL replace and append, S3, HDFS) leaves the
target with exactly its old content or exactly the new output, never neither and never
twice, and so does a worker killed between the publish and COMPLETE."""

from __future__ import annotations

import time

import orjson
import psycopg
import pytest
from django.db import connection as django_db

from jobs.models import Connection, Job, JobAsset, JobStatus, Worker
from jobs.services import InputSpec, OutputSpec, job_cancel, job_submit
from tests.conftest import _worker_database_url
from tests.jobs.test_assets_sql import PASSWORD, postgres_dsn  # noqa: F401 - a fixture
from tests.servers import ThrottledProxy
from tests.workers import fresh_runtime as _fresh_runtime
from tests.workers import records, runworker_start, snapshot_of, wait

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ECHO = "# modelop.score\ndef action(datum):\n    yield {'id': datum['id'], 'label': 'new'}\n"
OLD = [(0, "old")]
NEW = [(1, "new"), (2, "new"), (3, "new")]
NEW_JSONL = b"".join(orjson.dumps({"id": i, "label": label}) + b"\n" for i, label in NEW)


@pytest.fixture
def runtime():
    return _fresh_runtime(max_attempts=3)


@pytest.fixture
def workers(runtime, tmp_path):
    started = []

    def start(n: int = 1):
        for _ in range(n):
            started.append(
                runworker_start(runtime=runtime, log_path=tmp_path / f"w{len(started)}.log")
            )
        return started

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def warehouse(postgres_dsn):  # noqa: F811
    """A table scores holding one old row, in PostgreSQL, and a connection to it."""
    db = psycopg.connect(postgres_dsn, autocommit=True)
    db.execute("CREATE TABLE scores (id bigint, label text)")
    db.execute("INSERT INTO scores VALUES (0, 'old')")
    conn = Connection.objects.create(
        name="warehouse", kind=Connection.Kind.SQL, dsn=postgres_dsn,
        statement_timeout_seconds=30,
    )  # fmt: skip
    conn.raw_dsn = postgres_dsn
    conn.rows = lambda: db.execute("SELECT id, label FROM scores ORDER BY id, label").fetchall()
    conn.tables = lambda: {
        r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    conn.lock_waits = lambda: db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    ).fetchone()[0]
    yield conn
    db.execute("DROP SCHEMA public CASCADE")
    db.execute("CREATE SCHEMA public")
    db.close()


def score(user, team, runtime, output: OutputSpec) -> Job:
    return job_submit(
        user=user,
        snapshot=snapshot_of(ECHO, owner=user, team=team),
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=records(3))],
        output=output,
        runtime=runtime,
    )


def sql_output(warehouse, mode: str) -> OutputSpec:
    return OutputSpec(
        kind=JobAsset.Kind.SQL, connection=warehouse, location="scores", write_mode=mode
    )


def ended(job: Job, worker) -> Job:
    """JOB once it ended and the worker has put it out of its hands (its supervisor returned:
    nothing more happens to the target)."""
    wait(
        lambda: Job.objects.filter(pk=job.pk, status__in=["COMPLETE", "ERROR", "CANCELLED"])
        .exists(),
        timeout=60, what="the job to end",
    )  # fmt: skip
    wait(lambda: str(job.uuid) not in Worker.objects.get(name=worker.name).jobs_in_hand,
         timeout=30, what="the supervisor to return")  # fmt: skip
    job.refresh_from_db()
    return job


# --- A cancel at the moment of publishing ---------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "blocker"),
    [
        ("replace", "SELECT * FROM scores"),  # the old table's DROP waits for this reader
        ("append", "LOCK TABLE scores IN SHARE MODE"),  # the COPY waits for this lock
    ],
)
def test_sql_a_cancel_while_publishing_leaves_the_table_exactly_as_it_was(
    workers, runtime, warehouse, alice, team_alpha, mode, blocker
):
    (worker,) = workers()
    held = psycopg.connect(warehouse.raw_dsn)
    held.execute(blocker)  # in a transaction, left open
    job = score(alice, team_alpha, runtime, sql_output(warehouse, mode))
    wait(lambda: warehouse.lock_waits() >= 1, timeout=60, what="the publish to wait on the lock")

    assert job_cancel(job=job, by=alice)  # before its point of no return: the cancel wins
    held.rollback()
    held.close()
    job = ended(job, worker)

    assert job.status == JobStatus.CANCELLED
    assert warehouse.rows() == OLD
    assert warehouse.tables() == {"scores"}  # no staging table left
    assert job.publishing == {}


def test_s3_a_cancel_once_the_upload_is_under_way_is_refused_and_the_object_is_the_new_one(
    workers, runtime, alice, team_alpha, s3_server, s3_bucket
):
    (worker,) = workers()
    s3 = s3_server.client()
    s3.put_object(Bucket=s3_bucket, Key="scores.jsonl", Body=b"old\n")
    host, port = s3_server.endpoint.removeprefix("http://").split(":")
    proxy = ThrottledProxy((host, int(port)), rate=1 << 30)
    proxy.gate.clear()  # the upload waits in the proxy
    lake = s3_server.connection(endpoint_url=proxy.url)
    lake.save()
    try:
        job = score(alice, team_alpha, runtime, OutputSpec(
            kind=JobAsset.Kind.S3, connection=lake, location=f"s3://{s3_bucket}/scores.jsonl",
        ))  # fmt: skip
        wait(proxy.holding.is_set, timeout=60, what="the upload to start")
        job.refresh_from_db()
        assert job.publishing == {"attempt": 1}

        assert not job_cancel(job=job, by=alice)  # past its point of no return
        proxy.gate.set()
        job = ended(job, worker)
    finally:
        proxy.gate.set()
        proxy.close()

    assert job.status == JobStatus.COMPLETE, job.error_message
    assert s3.get_object(Bucket=s3_bucket, Key="scores.jsonl")["Body"].read() == NEW_JSONL


@pytest.mark.parametrize("held_op", ["CREATE", "RENAME"])
def test_hdfs_a_cancel_while_publishing_leaves_the_old_file_or_the_new_one(
    workers, runtime, alice, team_alpha, webhdfs_server, held_op
):
    (worker,) = workers()
    old = webhdfs_server.local("/results/scores.jsonl")
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old\n")
    hadoop = webhdfs_server.connection()
    hadoop.save()
    gate = webhdfs_server.hold(held_op)
    try:
        job = score(alice, team_alpha, runtime, OutputSpec(
            kind=JobAsset.Kind.HDFS, connection=hadoop,
            location="hdfs://nn/results/scores.jsonl",
        ))  # fmt: skip
        wait(lambda: any(op == held_op for _, op, _ in webhdfs_server.requests), timeout=60,
             what=f"the publish to send {held_op}")  # fmt: skip
        cancelled = job_cancel(job=job, by=alice)
        gate.set()
        job = ended(job, worker)
    finally:
        gate.set()

    if held_op == "CREATE":  # writing the temporary file: before the point of no return
        assert cancelled and job.status == JobStatus.CANCELLED
        assert old.read_bytes() == b"old\n"
    else:  # the rename into place: after it
        assert not cancelled and job.status == JobStatus.COMPLETE, job.error_message
        assert old.read_bytes() == NEW_JSONL
    assert [p.name for p in old.parent.iterdir()] == ["scores.jsonl"]  # nothing else left


# --- A worker killed between the publish and COMPLETE ---------------------------------------


@pytest.mark.parametrize("kind", ["sql-append", "sql-replace", "s3", "hdfs"])
def test_a_worker_killed_between_publish_and_complete_leaves_exactly_one_copy(
    workers, runtime, warehouse, alice, team_alpha, s3_server, s3_bucket, webhdfs_server, kind
):
    if django_db.vendor != "postgresql":
        pytest.skip("holds a row lock in the command center's database: PostgreSQL only")
    first, second = workers(2)
    if kind.startswith("sql"):
        output = sql_output(warehouse, kind.removeprefix("sql-"))
        content = warehouse.rows
        new = [*OLD, *NEW] if kind == "sql-append" else NEW
    elif kind == "s3":
        lake = s3_server.connection()
        lake.save()
        output = OutputSpec(kind=JobAsset.Kind.S3, connection=lake,
                            location=f"s3://{s3_bucket}/scores.jsonl")  # fmt: skip

        def content():
            try:
                return (
                    s3_server.client()
                    .get_object(Bucket=s3_bucket, Key="scores.jsonl")["Body"]
                    .read()
                )
            except s3_server.client().exceptions.NoSuchKey:
                return None

        new = NEW_JSONL
    else:
        hadoop = webhdfs_server.connection()
        hadoop.save()
        output = OutputSpec(kind=JobAsset.Kind.HDFS, connection=hadoop,
                            location="hdfs://nn/scores.jsonl")  # fmt: skip
        file = webhdfs_server.local("/scores.jsonl")

        def content():
            return file.read_bytes() if file.exists() else None

        new = NEW_JSONL
    job = score(alice, team_alpha, runtime, output)
    # COMPLETE saves the output asset's row first: holding a lock on it stops the supervisor
    # right after the publish.
    lock = psycopg.connect(_worker_database_url())
    lock.execute("SELECT 1 FROM jobs_jobasset WHERE id = %s FOR UPDATE",
                 (job.output_asset().pk,))  # fmt: skip
    wait(lambda: content() == new, timeout=60, what="the output to be published")
    job.refresh_from_db()
    holder = first if job.worker == first.name else second
    other = second if holder is first else first
    holder.kill()
    killed = time.monotonic()
    lock.rollback()
    lock.close()

    job = ended(job, other)
    print(f"{kind}: started again and complete {time.monotonic() - killed:.1f} s after the kill")
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert (job.attempts, job.worker) == (2, other.name)
    assert job.publishing["attempt"] == 2
    assert content() == new  # exactly one copy
