"""A cancel while an external input is fetched stops the fetch itself, not only the wait for
it: the download or the query ends within seconds, its connection is closed, nothing is left
in the work dir, and the worker runs the next job. Through job_execute and real servers: moto
behind a slow proxy, the WebHDFS test server, SQLite, and PostgreSQL on 127.0.0.1:5432."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest

from jobs.assets.sql import source as sql_source
from jobs.models import Connection, Job, JobAsset, JobStatus
from jobs.services import InputSpec, job_cancel
from tests.demo import demo_snapshot
from tests.jobs.test_assets_sql import postgres_dsn  # noqa: F401 - a fixture
from tests.jobs.test_executor_limits import quick_job_completes
from tests.jobs.test_executor_supervisor import (
    executor_settings,  # noqa: F401 (autouse: work dir, media, no broker)
    run_in_thread,
    submit,
    wait_until,
)
from tests.servers import ThrottledProxy

pytestmark = pytest.mark.django_db(transaction=True)

STOPPED_WITHIN = 3.0  # seconds from the cancel
# Counts to a billion: minutes of work for either database, unless it is broken off.
LONG_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
    "SELECT count(*) AS n FROM c"
)


def fetching(job: Job) -> bool:
    """Whether the thread that prepares JOB's work dir (and fetches its inputs) still runs."""
    return any(t.name == f"job-prepare-{job.uuid}" for t in threading.enumerate())


def cancel_and_time(job: Job, user, thread: threading.Thread) -> float:
    """Cancel JOB; seconds until its fetch thread ended (STOPPED_WITHIN + 5 at most)."""
    assert job_cancel(job=job, by=user)
    cancelled_at = time.monotonic()
    thread.join(timeout=10)
    deadline = cancelled_at + STOPPED_WITHIN + 5
    while fetching(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    return time.monotonic() - cancelled_at


def assert_cancelled_and_clean(job: Job, settings) -> None:
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert list(settings.JOB_WORK_DIR.iterdir()) == []  # partial files too


def sql_job(user, team, dsn: str) -> Job:
    connection = Connection.objects.create(
        name=f"warehouse-{uuid.uuid4().hex[:6]}", kind=Connection.Kind.SQL, dsn=dsn,
        statement_timeout_seconds=600,
    )  # fmt: skip
    return submit(
        user,
        demo_snapshot(owner=user, team=team),
        InputSpec(kind=JobAsset.Kind.SQL, connection=connection, query=LONG_QUERY),
    )


# --- S3 --------------------------------------------------------------------------------------


@pytest.fixture
def slow_s3(s3_server):
    """A proxy to moto that passes 1 MB a second per connection on."""
    endpoint = urlsplit(s3_server.endpoint)
    proxy = ThrottledProxy((endpoint.hostname, endpoint.port), rate=1024 * 1024)
    yield proxy
    proxy.close()


def test_cancel_during_a_slow_s3_download_stops_it_mid_object(
    alice, team_alpha, s3_server, s3_bucket, slow_s3, settings
):
    body = b'{"id": 1}\n' * (2_400_000)  # 24 MB: three 8 MiB parts, 8 s each here
    s3_server.client().put_object(Bucket=s3_bucket, Key="big/records.jsonl", Body=body)
    lake = s3_server.connection(endpoint_url=slow_s3.url)
    lake.save()
    job = submit(
        alice,
        demo_snapshot(owner=alice, team=team_alpha),
        InputSpec(kind=JobAsset.Kind.S3, connection=lake, location=f"s3://{s3_bucket}/big/"),
    )
    thread = run_in_thread(job)
    wait_until(lambda: slow_s3.sent > 1024 * 1024, message="the download to be under way")

    assert cancel_and_time(job, alice, thread) < STOPPED_WITHIN
    sent = slow_s3.sent
    assert sent < len(body) / 2
    wait_until(lambda: slow_s3.open == 0, timeout=STOPPED_WITHIN, message="S3 connections closed")
    assert_cancelled_and_clean(job, settings)
    time.sleep(0.5)
    assert slow_s3.sent == sent  # nothing more downloaded
    quick_job_completes(alice, team_alpha)


# --- HDFS ------------------------------------------------------------------------------------


def test_cancel_during_a_slow_hdfs_read_stops_it(alice, team_alpha, webhdfs_server, settings):
    big = webhdfs_server.local("/exports/records.jsonl")
    big.parent.mkdir(parents=True)
    big.write_bytes(b'{"id": 1}\n' * 2_000_000)  # 20 MB at about 1.3 MB a second
    webhdfs_server.read_delay = 0.05
    hadoop = webhdfs_server.connection()
    hadoop.save()
    job = submit(
        alice,
        demo_snapshot(owner=alice, team=team_alpha),
        InputSpec(kind=JobAsset.Kind.HDFS, connection=hadoop, location="hdfs://nn/exports/"),
    )
    thread = run_in_thread(job)
    wait_until(lambda: webhdfs_server.reading, message="the read to be under way")
    time.sleep(0.5)

    assert cancel_and_time(job, alice, thread) < STOPPED_WITHIN
    wait_until(
        lambda: not webhdfs_server.reading, timeout=STOPPED_WITHIN, message="the read to end"
    )
    assert_cancelled_and_clean(job, settings)
    quick_job_completes(alice, team_alpha)


# --- SQL -------------------------------------------------------------------------------------


def test_cancel_during_a_slow_postgresql_query_cancels_the_query(
    alice,
    team_alpha,
    postgres_dsn,  # noqa: F811
    settings,
):
    name = f"cc-cancel-{uuid.uuid4().hex[:8]}"  # to find the job's session
    job = sql_job(alice, team_alpha, f"{postgres_dsn}?application_name={name}")
    watch = psycopg.connect(postgres_dsn, autocommit=True)

    def sessions(state: str = "%") -> int:
        return watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state LIKE %s",
            (name, state),
        ).fetchone()[0]

    try:
        thread = run_in_thread(job)
        wait_until(lambda: sessions("active"), message="the query to run")
        time.sleep(0.5)

        assert cancel_and_time(job, alice, thread) < STOPPED_WITHIN
        wait_until(lambda: not sessions(), timeout=1, message="the session to end")
    finally:
        watch.close()
    assert_cancelled_and_clean(job, settings)
    quick_job_completes(alice, team_alpha)


def test_cancel_during_a_slow_sqlite_query_interrupts_it(
    alice, team_alpha, tmp_path, monkeypatch, settings
):
    path = tmp_path / "warehouse.sqldb"
    sqlite3.connect(path).close()
    opened = []

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        opened.append(conn)
        return conn

    real_connect = sql_source.sqlite_connect
    monkeypatch.setattr(sql_source, "sqlite_connect", connect)
    job = sql_job(alice, team_alpha, f"sqlite://{path}")
    thread = run_in_thread(job)
    wait_until(lambda: opened, message="the query to start")
    time.sleep(0.5)

    assert cancel_and_time(job, alice, thread) < STOPPED_WITHIN
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0].execute("SELECT 1")
    assert_cancelled_and_clean(job, settings)
    quick_job_completes(alice, team_alpha)
