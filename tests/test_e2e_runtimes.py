"""Runtimes through real Celery workers: heartbeats, and placement on two runtimes."""

from __future__ import annotations

import time
import uuid

import pytest
from django.utils import timezone

from jobs.models import JobAsset, JobStatus, Runtime, Worker
from jobs.selectors import ONLINE, runtime_health, worker_state
from jobs.services import InputSpec, job_place, job_submit
from models_registry.models import Snapshot
from tests.conftest import celery_worker_start, celery_worker_stop, wait_for_job
from tests.demo import demo_snapshot

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SLOW_SOURCE = """\
import time

# modelop.score
def action(datum):
    time.sleep(3)
    yield datum
"""
RECORDS = '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}\n'


def test_a_real_worker_beats_with_its_host_pid_and_versions(celery_worker):
    worker = Worker.objects.get(name=celery_worker.heartbeat["name"])
    assert worker.pid == celery_worker.pid and worker.host
    assert worker.runtime.is_default and worker.queue == "default"
    assert worker.concurrency == 2 and worker.stopped_at is None
    assert {"python", "django", "celery", "pandas"} <= set(worker.versions)
    assert worker_state(worker) == ONLINE and runtime_health(worker.runtime) == ONLINE


@pytest.fixture
def two_runtimes(tmp_path):
    """Runtimes dev [DEV] and prod [PROD, gpu], each served by its own worker process."""
    dev = Runtime.objects.create(name="dev", queue=f"dev-{uuid.uuid4().hex[:6]}", tags=["DEV"])
    prod = Runtime.objects.create(
        name="prod", queue=f"prod-{uuid.uuid4().hex[:6]}", tags=["PROD", "gpu"]
    )
    procs = []
    try:
        for rt in (dev, prod):
            procs.append(
                celery_worker_start(
                    queues=rt.queue,
                    hostname=f"{rt.name}-{uuid.uuid4().hex[:6]}@%h",
                    log_path=tmp_path / f"{rt.name}.log",
                    env={"HEARTBEAT_SECONDS": "0.5"},
                )
            )
        yield dev, prod, procs
    finally:
        for proc in procs:
            celery_worker_stop(proc)


def _job(user, snapshot):
    return job_submit(
        user=user,
        snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=RECORDS)],
    )


def test_jobs_run_on_the_runtime_their_tags_need_or_wait(two_runtimes, alice, team_alpha):
    dev, prod, (dev_proc, prod_proc) = two_runtimes
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    assert runtime_health(dev) == ONLINE and runtime_health(prod) == ONLINE

    def needing(*tags):
        Snapshot.objects.filter(pk=snapshot.pk).update(runtime_tags=list(tags))
        snapshot.refresh_from_db()
        return snapshot

    on_prod = wait_for_job(_job(alice, needing("PROD")))
    on_dev = wait_for_job(_job(alice, needing("DEV")))
    nowhere = _job(alice, needing("tpu"))

    assert on_prod.status == JobStatus.COMPLETE, on_prod.error_message
    assert on_prod.runtime == prod and on_prod.worker.startswith("prod-")
    assert on_prod.placement == "chosen automatically: prod (tags PROD, gpu; 0 of 2 slots busy)"
    assert on_dev.status == JobStatus.COMPLETE, on_dev.error_message
    assert on_dev.runtime == dev and on_dev.worker.startswith("dev-")

    time.sleep(1)
    nowhere.refresh_from_db()
    assert (nowhere.status, nowhere.runtime) == (JobStatus.WAITING, None)
    assert nowhere.placement == "no online runtime with tags tpu"
    assert job_place(job=nowhere) is False

    # Staff tag dev with tpu: the waiting job is placed there (by this call, or by a worker's
    # reconciler, which calls job_place too) and runs.
    Runtime.objects.filter(pk=dev.pk).update(tags=["DEV", "tpu"])
    job_place(job=nowhere)
    nowhere = wait_for_job(nowhere)
    assert nowhere.status == JobStatus.COMPLETE and nowhere.worker.startswith("dev-")


def test_a_worker_reports_the_jobs_in_its_hands(two_runtimes, alice, team_alpha):
    _dev, prod, _procs = two_runtimes
    snapshot = demo_snapshot(owner=alice, team=team_alpha, source=SLOW_SOURCE)
    Snapshot.objects.filter(pk=snapshot.pk).update(runtime_tags=["PROD"])
    snapshot.refresh_from_db()
    job = _job(alice, snapshot)
    assert job.runtime == prod
    deadline = time.monotonic() + 30
    while str(job.uuid) not in Worker.objects.get(runtime=prod).jobs_in_hand:
        assert time.monotonic() < deadline, "the running job never showed in the heartbeat"
        time.sleep(0.1)
    job = wait_for_job(job)
    assert job.status == JobStatus.COMPLETE, job.error_message
    deadline = time.monotonic() + 10
    while Worker.objects.get(runtime=prod).jobs_in_hand:
        assert time.monotonic() < deadline, "the finished job stayed in the heartbeat"
        time.sleep(0.1)


def test_a_stopped_worker_says_so_and_its_runtime_goes_offline(two_runtimes):
    dev, _prod, (dev_proc, _prod_proc) = two_runtimes
    before = timezone.now()
    celery_worker_stop(dev_proc)
    (worker,) = Worker.objects.filter(runtime=dev)
    assert worker.stopped_at is not None and worker.stopped_at >= before
    assert runtime_health(dev) == "offline"


def test_a_worker_writes_its_row_again_when_it_was_deleted(two_runtimes):
    _dev, prod, _procs = two_runtimes
    Worker.objects.filter(runtime=prod).delete()
    deadline = time.monotonic() + 10
    while not Worker.objects.filter(runtime=prod).exists():
        assert time.monotonic() < deadline, "the worker did not beat again"
        time.sleep(0.1)
    assert runtime_health(prod) == ONLINE
