"""The outage fault script, run by the suite on the PostgreSQL and Redis the CI machine runs:
a worker's connections terminated three times during a job, PostgreSQL restarted during a
job, Redis restarted with jobs queued and running. Each job completes with every output
record exactly once, and the worker serves the next job. The services are left running."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection, connections

from tests.conftest import _worker_database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _run(fault: str, iterations: int) -> str:
    env = {**os.environ, "DATABASE_URL": _worker_database_url()}
    try:
        run = subprocess.run(
            [sys.executable, "scripts/fault_outages.py", "--fault", fault,
             "--iterations", str(iterations), "--rows", "150000"],
            env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=400,
        )  # fmt: skip
    finally:
        connections.close_all()  # this process's connections did not live through a restart
    print(run.stdout)  # the figures, with -s
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    assert f"summary: {fault}: {iterations} of {iterations} iterations ok" in run.stdout
    return run.stdout


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("DATABASE_URL is not PostgreSQL: this run uses the embedded default")


@pytest.fixture
def redis():
    if not settings.BROKER_URL.startswith("redis"):
        pytest.skip("BROKER_URL is not Redis: this run uses the embedded broker")


def test_a_job_completes_exactly_once_though_its_connections_are_terminated_three_times(
    postgresql,
):
    out = _run("terminate", 2)
    assert "connections terminated" in out


@pytest.mark.serial  # the other pytest-xdist workers use this PostgreSQL too
def test_a_job_completes_exactly_once_through_a_postgresql_restart(postgresql):
    _run("pg-restart", 1)


@pytest.mark.serial  # and this Redis
def test_queued_and_running_jobs_complete_exactly_once_through_a_redis_restart(postgresql, redis):
    _run("redis-restart", 1)


@pytest.fixture
def sqlite_file():
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default's SQLite only")
    return connection.settings_dict["NAME"]


def test_a_job_completes_while_sqlite_is_write_locked_for_a_moment(
    sqlite_file, in_process_executor, alice, team_alpha
):
    """A long write elsewhere (another process's transaction) holds SQLite's write lock for
    3 s while the job runs and commits: the job waits for it and completes."""
    import sqlite3
    import threading
    import time

    from jobs.models import JobStatus
    from jobs.worker.supervisor import job_execute
    from tests.jobs.test_executor_supervisor import embedded, snapshot_of, submit

    source = "import time\n# modelop.score\ndef action(d):\n    time.sleep(0.002)\n    yield d\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha),
                 embedded(*({"id": i} for i in range(500))))  # fmt: skip
    locked = threading.Event()

    def hold_the_lock():
        other = sqlite3.connect(sqlite_file, timeout=30)
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE jobs_runtime SET description = description")
        locked.set()
        time.sleep(3)
        other.commit()
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    locked.wait(10)
    started = time.monotonic()
    job_execute(job_uuid=str(job.uuid))
    holder.join()

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert job.records_written == 500
    assert time.monotonic() - started >= 2.5  # it did wait for the lock
