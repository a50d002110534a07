"""A worker paused mid-job (SIGSTOP: a long GC, a frozen VM), through real processes: its
model ends on its own before another worker takes the job back, so the two attempts' model
code never runs at once; the paused worker, let go again, changes nothing."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from jobs.models import Job, JobStatus
from tests.workers import (
    FAST,
    fresh_runtime,
    output_ids,
    records,
    runworker_start,
    snapshot_of,
    submit,
    wait,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = 100  # 15 s of scoring: long enough for a second worker to start beside it
# Each record: the model process's pid and the time, in the drop box.
TRACED = """\
import os, time

# modelop.score
def action(datum):
    with open({trace!r}, "a") as f:
        f.write(f"{{os.getpid()}} {{time.time()}}\\n")
    time.sleep(0.15)
    yield {{"id": datum["id"]}}
"""


def test_a_paused_workers_model_ends_before_its_job_runs_elsewhere(
    alice, team_alpha, tmp_path, drop
):
    trace = drop("trace.txt")
    runtime = fresh_runtime(max_attempts=3)
    paused = runworker_start(runtime=runtime, log_path=tmp_path / "paused.log")
    other = None
    try:
        snapshot = snapshot_of(TRACED.format(trace=str(trace)), owner=alice, team=team_alpha)
        job = submit(alice, snapshot, runtime, records(ROWS))
        wait(lambda: trace.exists() and trace.read_text().count("\n") >= 10, timeout=60,
             what="the model to score")  # fmt: skip
        # Only now does a second worker start, so that the first one has the job.
        other = runworker_start(runtime=runtime, log_path=tmp_path / "other.log")
        model = [p for p in paused.descendants() if p.pid != paused.pid]
        os.kill(paused.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()

        wait(lambda: not [p for p in model if p.is_running() and p.status() != "zombie"],
             timeout=10, what="the paused worker's model to end")  # fmt: skip
        model_gone = time.monotonic() - stopped_at
        wait(lambda: Job.objects.filter(pk=job.pk, attempts=2).exists(), timeout=30,
             what="the other worker to take the job")  # fmt: skip
        taken = time.monotonic() - stopped_at
        os.kill(paused.pid, signal.SIGCONT)
        job = wait(
            lambda: Job.objects.filter(pk=job.pk, status__in=["COMPLETE", "ERROR"]).first(),
            timeout=60,
            what="the job to end",
        )
        time.sleep(1)  # the resumed worker's supervisor has looked at the job by now
        job.refresh_from_db()
    finally:
        paused.stop()
        if other is not None:
            other.stop()

    print(f"paused worker's model gone {model_gone:.1f} s after the pause; job taken back "
          f"after {taken:.1f} s")  # fmt: skip
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert (job.attempts, job.worker) == (2, other.name)
    # The model ended on its own, before the job could be taken back (offline 4 s after the
    # last beat, up to 0.5 s before the pause).
    assert model_gone < taken
    assert taken > float(FAST["WORKER_OFFLINE_SECONDS"]) - float(FAST["HEARTBEAT_SECONDS"])
    # The two attempts' model processes never ran at once.
    lines = [line.split() for line in trace.read_text().splitlines()]
    pids = list(dict.fromkeys(pid for pid, _ in lines))
    first = [float(t) for pid, t in lines if pid == pids[0]]
    later = [float(t) for pid, t in lines if pid != pids[0]]
    assert max(first) < min(later)
    assert output_ids(job) == list(range(1, ROWS + 1))
    assert "stopped: the worker did not renew the model's lease" not in job.log  # attempt 2's
    assert not [p for p in model if psutil.pid_exists(p.pid) and p.status() != "zombie"]
