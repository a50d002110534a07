"""A model that double-forks a daemon (setsid, SIGTERM ignored, the event pipe still open in
it), through a real worker with one slot: the job completes, the slot serves the next job at
once, and no process of the model is left."""

from __future__ import annotations

import time

import psutil
import pytest

from jobs.models import Job, JobStatus
from tests.workers import fresh_runtime, records, runworker_start, snapshot_of, submit, wait

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DAEMON = """\
import os, signal, time

# modelop.init
def begin():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # the daemon: in a session of its own, deaf to SIGTERM
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            with open({pid_file!r} + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename({pid_file!r} + ".tmp", {pid_file!r})
            while True:
                time.sleep(1)
        os._exit(0)
    os.wait()
    while not os.path.exists({pid_file!r}):
        time.sleep(0.01)

# modelop.score
def action(datum):
    yield datum
"""
PLAIN = "# modelop.score\ndef action(datum):\n    yield datum\n"


def test_a_model_that_leaves_a_daemon_completes_and_the_slot_serves_the_next_job(
    alice, team_alpha, tmp_path, drop
):
    pid_file = drop("daemon.pid")
    runtime = fresh_runtime()
    worker = runworker_start(runtime=runtime, log_path=tmp_path / "worker.log", concurrency=1)
    try:
        daemon_job = submit(
            alice, snapshot_of(DAEMON.format(pid_file=str(pid_file)), owner=alice,
                               team=team_alpha), runtime, records(5),
        )  # fmt: skip
        next_job = submit(alice, snapshot_of(PLAIN, owner=alice, team=team_alpha), runtime,
                          records(5))  # fmt: skip
        ended = ("COMPLETE", "ERROR", "CANCELLED")
        daemon_job = wait(
            lambda: Job.objects.filter(pk=daemon_job.pk, status__in=ended).first(),
            timeout=60, what="the daemon's job to end",
        )  # fmt: skip
        first_done = time.monotonic()
        next_job = wait(
            lambda: Job.objects.filter(pk=next_job.pk, status__in=ended).first(),
            timeout=30, what="the next job to end",
        )  # fmt: skip
        gap = time.monotonic() - first_done
        left = [p for p in worker.descendants() if p.status() != psutil.STATUS_ZOMBIE]
    finally:
        worker.stop()

    assert daemon_job.status == JobStatus.COMPLETE, (daemon_job.error_message, daemon_job.log)
    daemon = int(pid_file.read_text())
    pickup = (next_job.started_at - daemon_job.finished_at).total_seconds()
    print(f"the next job started {pickup:.2f} s and completed {gap:.2f} s after the daemon's job")
    assert daemon_job.records_written == 5
    assert next_job.status == JobStatus.COMPLETE, next_job.error_message
    assert pickup < 2 and gap < 5  # no wait for the daemon's end of the event pipe
    assert not psutil.pid_exists(daemon) or psutil.Process(daemon).status() == "zombie"
    assert left == []
