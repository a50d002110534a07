"""Lost broker messages: jobs queued while no worker consumes, the broker's messages wiped
(Redis FLUSHDB of its own db, or the embedded broker's message files deleted), then a worker
starts: its reconciler sends the WAITING jobs again and all of them complete. The database,
not the broker, is the source of truth."""

from __future__ import annotations

import subprocess
import time
import uuid

import orjson
import pytest
import redis
from django.conf import settings

from jobs.models import Job, JobAsset, JobStatus, Runtime
from jobs.services import InputSpec, job_submit
from jobs.worker import reconciler
from tests.conftest import celery_worker_start, celery_worker_stop
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ON_REDIS = (settings.BROKER_URL or "").startswith("redis")
JOBS = 5


@pytest.fixture
def runtime():
    """A runtime on a queue of its own: no other test's worker takes its jobs."""
    queue = f"flush-{uuid.uuid4().hex[:8]}"
    return Runtime.objects.create(name=queue, queue=queue)


@pytest.fixture
def submitted(alice, team_alpha, runtime):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    record = orjson.dumps({"id": 1, "sepal_length": 5.1, "sepal_width": 3.5,
                           "petal_length": 1.4, "petal_width": 0.2}).decode()  # fmt: skip
    jobs = [
        job_submit(
            user=alice,
            snapshot=snapshot,
            inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=record + "\n")],
            runtime=runtime,
        )
        for _ in range(JOBS)
    ]
    assert reconciler._queued_messages(runtime.queue) == JOBS
    return jobs


@pytest.fixture
def start_worker(tmp_path):
    started = []

    def start(queue: str) -> subprocess.Popen:
        proc = celery_worker_start(
            queues=queue,
            hostname=f"flush-{uuid.uuid4().hex[:6]}@%h",
            log_path=tmp_path / "worker.log",
            env={"RECONCILE_SECONDS": "2", "RECONCILE_RESEND_SECONDS": "5"},
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        celery_worker_stop(proc)


def all_complete(jobs, worker, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = list(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status"))
        if all(s == (JobStatus.COMPLETE,) for s in statuses):
            return
        time.sleep(0.2)
    log = worker.log_path.read_text(errors="replace")[-3000:]
    ended = Job.objects.filter(pk__in=[j.pk for j in jobs]).exclude(status=JobStatus.COMPLETE)
    why = [(j.uuid, j.status, j.attempts, j.error_message, j.log[-1500:]) for j in ended]
    raise AssertionError(f"not all complete after {timeout} s: {statuses}\n{why}\n{log}")


def check_ran_once(jobs) -> None:
    for job in jobs:
        job.refresh_from_db()
        assert job.attempts == 1
        assert job.records_written == 1


@pytest.mark.skipif(not ON_REDIS, reason="the broker is not Redis")
def test_jobs_queued_before_redis_is_flushed_all_complete(submitted, runtime, start_worker):
    # Only the test broker's own database is flushed, never the whole server.
    redis.Redis.from_url(settings.BROKER_URL).flushdb()
    assert reconciler._queued_messages(runtime.queue) == 0
    flushed_at = time.monotonic()

    worker = start_worker(runtime.queue)

    all_complete(submitted, worker, timeout=60)
    print(f"all {JOBS} complete {time.monotonic() - flushed_at:.1f} s after the flush")
    check_ran_once(submitted)


@pytest.mark.skipif(ON_REDIS, reason="the broker is Redis, not the embedded one")
def test_jobs_whose_embedded_broker_files_are_deleted_all_complete(
    submitted, runtime, start_worker
):
    folder = settings.EMBEDDED_BROKER_DIR / "queue"
    messages = list(folder.glob(f"*.{runtime.queue}.msg"))
    assert len(messages) == JOBS
    for path in messages:
        path.unlink()
    assert reconciler._queued_messages(runtime.queue) == 0
    deleted_at = time.monotonic()

    worker = start_worker(runtime.queue)

    all_complete(submitted, worker, timeout=60)
    print(f"all {JOBS} complete {time.monotonic() - deleted_at:.1f} s after the files went")
    check_ran_once(submitted)
