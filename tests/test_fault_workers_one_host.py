"""Two `runworker` processes on one machine, through real processes: each has a name of its
own, so a job is taken back only when the worker holding it is gone."""

from __future__ import annotations

import socket
import time

import pytest

from jobs.models import Job, JobStatus, Worker
from tests.workers import (
    OFFLINE_SECONDS,
    fresh_runtime,
    output_ids,
    records,
    runworker_start,
    snapshot_of,
    submit,
    wait,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = 120
PACED = """\
import time

# modelop.score
def action(datum):
    time.sleep(0.05)
    yield {"id": datum["id"]}
"""


@pytest.fixture
def workers():
    started = []
    yield started
    for worker in started:
        worker.stop()


def test_two_workers_on_one_host_and_the_one_holding_a_job_killed(
    workers, alice, team_alpha, tmp_path
):
    runtime = fresh_runtime(max_attempts=3)
    for n in (1, 2):
        workers.append(runworker_start(runtime=runtime, log_path=tmp_path / f"w{n}.log"))
    host = socket.gethostname()
    assert [w.name for w in workers] == [f"{runtime.name}@{host}", f"{runtime.name}-2@{host}"]
    assert Worker.objects.filter(runtime=runtime).count() == 2

    job = submit(alice, snapshot_of(PACED, owner=alice, team=team_alpha), runtime, records(ROWS))
    wait(
        lambda: (
            Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, records_read__gt=0)
            .exclude(worker="")
            .first()
        ),
        timeout=60,
        what="the job to run",
    )
    job.refresh_from_db()
    holder = next(w for w in workers if w.name == job.worker)
    survivor = next(w for w in workers if w is not holder)
    model = holder.descendants()
    holder.kill()
    killed = time.monotonic()

    wait(
        lambda: Job.objects.filter(pk=job.pk, attempts=2, worker=survivor.name).exists(),
        timeout=30,
        what="the survivor to take the job",
    )
    taken = time.monotonic() - killed
    job = wait(
        lambda: Job.objects.filter(pk=job.pk, status__in=["COMPLETE", "ERROR"]).first(),
        timeout=60,
        what="the job to end",
    )

    print(f"taken back by the other worker {taken:.1f} s after the kill")
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert taken < OFFLINE_SECONDS + 2  # reconcilers look every 0.5 s
    assert f"worker {holder.name} was lost; starting again (attempt 2 of 3)" in job.log
    assert output_ids(job) == list(range(1, ROWS + 1))  # each record exactly once, in order
    assert not [p for p in model if p.is_running() and p.status() != "zombie"]


def test_a_second_worker_started_while_a_job_runs_does_not_restart_it(
    workers, alice, team_alpha, tmp_path
):
    runtime = fresh_runtime(max_attempts=3)
    workers.append(runworker_start(runtime=runtime, log_path=tmp_path / "w1.log"))
    job = submit(alice, snapshot_of(PACED, owner=alice, team=team_alpha), runtime, records(ROWS))
    wait(
        lambda: Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).exists(),
        timeout=60,
        what="the job to run",
    )

    workers.append(runworker_start(runtime=runtime, log_path=tmp_path / "w2.log"))
    job = wait(
        lambda: Job.objects.filter(pk=job.pk, status__in=["COMPLETE", "ERROR"]).first(),
        timeout=60,
        what="the job to end",
    )

    assert workers[1].name != workers[0].name
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert (job.attempts, job.worker) == (1, workers[0].name)
    assert "starting again" not in job.log
    assert output_ids(job) == list(range(1, ROWS + 1))


def test_a_hostname_in_use_on_this_machine_is_refused(workers, tmp_path):
    runtime = fresh_runtime()
    workers.append(
        runworker_start(runtime=runtime, log_path=tmp_path / "w1.log", hostname="twin@%h")
    )

    with pytest.raises(AssertionError, match="Another worker on this machine is named twin@"):
        workers.append(
            runworker_start(runtime=runtime, log_path=tmp_path / "w2.log", hostname="twin@%h")
        )


def test_a_killed_workers_work_dir_is_removed_by_another_worker_once_its_job_is_over(
    workers, alice, team_alpha, tmp_path
):
    from django.conf import settings

    from jobs.services import job_cancel

    runtime = fresh_runtime(max_attempts=3)
    doomed = runworker_start(runtime=runtime, log_path=tmp_path / "doomed.log")
    workers.append(doomed)
    job = submit(alice, snapshot_of(PACED, owner=alice, team=team_alpha), runtime, records(ROWS))
    wait(
        lambda: Job.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, records_read__gt=0
        ).exists(),
        timeout=60,
        what="the job to run",
    )
    folder = settings.JOB_WORK_DIR / f"{job.uuid}-1"
    assert (folder / "inputs").is_dir()
    doomed.kill()
    assert job_cancel(job=job, by=alice)  # before any other worker could run it again
    assert folder.exists()  # nobody cleaned up after the killed worker

    # Another worker on the machine, serving another runtime even, sweeps it.
    workers.append(runworker_start(runtime=fresh_runtime(), log_path=tmp_path / "other.log"))
    swept = time.monotonic()
    wait(lambda: not folder.exists(), timeout=10, what="the work dir to be removed")
    print(f"the killed worker's work dir was removed {time.monotonic() - swept:.1f} s after "
          "another worker started")  # fmt: skip
