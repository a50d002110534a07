"""The model's lease (jobs/worker/lease.py): a supervisor that stops renewing it, as a paused
worker does, has its model ended by the keeper on its own, and the job started again."""

from __future__ import annotations

import time

import pytest

from jobs.models import JobStatus
from jobs.worker import lease as lease_module
from jobs.worker.supervisor import job_execute
from tests.jobs.test_executor_supervisor import (
    SLOW_SOURCE,
    drop_file,
    embedded,
    run_in_thread,
    snapshot_of,
    submit,
    wait_until,
)
from tests.workers import process_gone, process_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    in_process_executor.MODEL_LEASE_SECONDS = 1.0
    return in_process_executor


def test_a_model_whose_lease_is_not_renewed_is_ended_by_its_keeper_and_the_job_given_back(
    alice, team_alpha, monkeypatch
):
    monkeypatch.setattr(lease_module.Lease, "_renew", lambda self: None)  # the worker "paused"
    pid_file = drop_file("child.pid")
    snapshot = snapshot_of(SLOW_SOURCE.format(pid_file=str(pid_file)), owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded(*({"x": i} for i in range(2000))))
    thread = run_in_thread(job)
    wait_until(pid_file.exists, message="the child to start")
    started = time.monotonic()
    model = process_of(int(pid_file.read_text()), told_at=pid_file.stat().st_mtime)

    wait_until(lambda: process_gone(model), timeout=60, message="the model to end")
    ended = time.monotonic() - started
    thread.join(timeout=60)

    assert ended < 10  # the lease (1 s) and the keeper's look every 0.2 s; more on a busy machine
    job.refresh_from_db()
    assert job.status == JobStatus.WAITING and job.attempts == 1
    assert "stopped: the worker did not renew the model's lease for 1 s" in job.log
    assert job.log.rstrip().endswith(
        "was paused longer than its model's lease (1 s); starting again (attempt 2 of 3)"
    )


def test_a_renewed_lease_lets_the_model_run_to_the_end(alice, team_alpha):
    source = (
        "import time\n\n# modelop.score\ndef action(datum):\n    time.sleep(0.5)\n    yield datum\n"
    )
    job = submit(
        alice,
        snapshot_of(source, owner=alice, team=team_alpha),
        embedded(*({"x": i} for i in range(6))),
    )

    job_execute(job_uuid=str(job.uuid))  # 3 s: three lease periods

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
