"""Runtime limits, cancel in every state, and fencing, through the real supervisor and child.

job_execute is called directly (no broker): see test_executor_supervisor.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import orjson
import psutil
import pytest
from django.db import connections
from django.utils import timezone

from jobs.models import Job, JobStatus, Runtime, Worker
from jobs.services import (
    InputSpec,
    job_cancel,
    job_claim,
    job_complete,
    job_fail,
    job_progress_save,
)
from jobs.worker import supervisor
from jobs.worker.reconciler import reconcile
from jobs.worker.supervisor import job_execute
from tests.demo import demo_snapshot, sample_upload
from tests.jobs.test_executor_supervisor import (
    drop_file,
    embedded,
    executor_settings,  # noqa: F401 (autouse: work dir, media, no broker)
    snapshot_of,
    stored_files,
    submit,
    wait_until,
)
from tests.workers import process_gone, process_of

pytestmark = pytest.mark.django_db(transaction=True)

PID_THEN_SLEEP = """\
import os, time

# modelop.init
def begin():  # written whole, then renamed: the file never shows empty
    with open({pid_file!r} + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename({pid_file!r} + ".tmp", {pid_file!r})

# modelop.score
def action(datum):
    time.sleep({seconds})
    yield datum
"""

MEMORY_HOG = """\
import time
HOARD = []

# modelop.score
def action(datum):
    for _ in range(100):          # up to 2 GB, 20 MB at a time
        HOARD.append(bytearray(20 * 1024 * 1024))
        time.sleep(0.02)
    yield datum
"""


def run_in_thread(job: Job, *, worker: str = "") -> threading.Thread:
    def target():
        try:
            job_execute(job_uuid=str(job.uuid), worker=worker)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def limited_runtime(**limits) -> Runtime:
    return Runtime.objects.create(name="limited", queue="limited", **limits)


def slow_job(user, team, tmp_path, *, seconds=0.05, records=2000, runtime=None) -> Job:
    pid_file = drop_file("child.pid")
    source = PID_THEN_SLEEP.format(pid_file=str(pid_file), seconds=seconds)
    job = submit(
        user,
        snapshot_of(source, owner=user, team=team),
        embedded(*({"id": i} for i in range(records))),
        runtime=runtime,
    )
    job.pid_file = pid_file
    return job


def quick_job_completes(user, team) -> None:
    """After a job was stopped, the same worker process runs the next one as usual."""
    source = "# modelop.score\ndef action(datum):\n    yield datum\n"
    job = submit(user, snapshot_of(source, owner=user, team=team), embedded({"x": 1}))
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message


# --- Limits --------------------------------------------------------------------------------


def test_a_child_over_the_memory_limit_is_stopped_and_the_job_says_so(alice, team_alpha):
    runtime = limited_runtime(memory_limit_mb=300)
    job = submit(
        alice,
        snapshot_of(MEMORY_HOG, owner=alice, team=team_alpha),
        embedded({"x": 1}),
        runtime=runtime,
    )

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert job.error_message == "stopped: used more than 300 MB"
    assert job.log.rstrip().endswith("stopped: used more than 300 MB")
    assert 300 * 1024 * 1024 < job.peak_memory < 1024 * 1024 * 1024  # stopped well before 2 GB
    assert stored_files(job) == []
    quick_job_completes(alice, team_alpha)


def test_a_job_over_the_time_limit_is_stopped_and_says_so(alice, team_alpha, tmp_path):
    job = slow_job(
        alice, team_alpha, tmp_path, seconds=60, runtime=limited_runtime(time_limit_seconds=2)
    )
    started = time.monotonic()

    job_execute(job_uuid=str(job.uuid))

    assert time.monotonic() - started < 5
    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert job.error_message == "stopped: ran longer than the time limit of 2 s"
    assert not psutil.pid_exists(int(job.pid_file.read_text()))
    quick_job_completes(alice, team_alpha)


def test_a_child_killed_from_outside_ends_the_job_naming_the_signal(alice, team_alpha, tmp_path):
    job = slow_job(alice, team_alpha, tmp_path, seconds=60)
    thread = run_in_thread(job)
    wait_until(job.pid_file.exists, message="the child to start")

    os.kill(int(job.pid_file.read_text()), signal.SIGTERM)
    thread.join(timeout=10)

    job.refresh_from_db()
    assert job.status == JobStatus.ERROR
    assert job.error_message == "the model process ended unexpectedly (killed by signal SIGTERM)"
    quick_job_completes(alice, team_alpha)


# --- Cancel within 2 s, in every state that is not terminal ---------------------------------


def test_cancelling_a_waiting_job_takes_effect_at_once_and_it_never_runs(
    alice, team_alpha, tmp_path
):
    job = slow_job(alice, team_alpha, tmp_path)
    started = time.monotonic()

    assert job_cancel(job=job, by=alice)

    assert time.monotonic() - started < 2
    job_execute(job_uuid=str(job.uuid))  # its message arrives later
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.attempts == 0
    assert not job.pid_file.exists()


def test_cancelling_while_a_big_input_is_staged_stops_within_two_seconds(
    alice, team_alpha, tmp_path, monkeypatch, settings
):
    # Remote storage is copied into the work dir; make that copy take a long while.
    staging = []

    def slow_copy(storage, name, dest):
        with storage.open(name, "rb") as src, open(dest, "wb") as dst:
            while block := src.read(4096):
                staging.append(len(block))
                dst.write(block)
                time.sleep(0.02)

    monkeypatch.setattr("jobs.worker.workdir._local_path", lambda storage, name: None)
    monkeypatch.setattr("jobs.worker.workdir._copy_from_storage", slow_copy)
    upload = sample_upload(owner=alice, tmp_path=tmp_path, rows=8000)  # staged in about 4 s
    job = submit(
        alice, demo_snapshot(owner=alice, team=team_alpha), InputSpec(kind="upload", upload=upload)
    )
    thread = run_in_thread(job)
    wait_until(lambda: len(staging) > 10, message="the input to be staged")

    assert job_cancel(job=job, by=alice)
    cancelled_at = time.monotonic()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 2
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert stored_files(job) == []
    # The abandoned copy runs to its end in the background; then its work dir goes.
    wait_until(lambda: not any(settings.JOB_WORK_DIR.iterdir()), message="the work dir to go")


def test_cancelling_a_running_job_stops_its_child_within_two_seconds(alice, team_alpha, tmp_path):
    job = slow_job(alice, team_alpha, tmp_path, seconds=0.5)
    thread = run_in_thread(job)
    wait_until(job.pid_file.exists, message="the child to start")
    pid = int(job.pid_file.read_text())

    assert job_cancel(job=job, by=alice)
    cancelled_at = time.monotonic()
    thread.join(timeout=10)

    assert time.monotonic() - cancelled_at < 2
    assert not psutil.pid_exists(pid)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


# --- Fencing ---------------------------------------------------------------------------------


def test_saves_under_an_old_claim_change_nothing(alice, team_alpha, tmp_path):
    job = slow_job(alice, team_alpha, tmp_path)
    assert job_claim(job=job, worker="w1@host")
    job.refresh_from_db()
    assert (job.attempts, job.worker) == (1, "w1@host")

    assert not job_progress_save(job=job, attempt=1, worker="w2@host", records_read=5)
    assert not job_complete(job=job, attempt=0, worker="w1@host")
    assert not job_fail(job=job, message="late", attempt=2, worker="w1@host")
    assert job_progress_save(job=job, attempt=1, worker="w1@host", records_read=5)

    Job.objects.filter(pk=job.pk).update(status=JobStatus.WAITING)  # taken back
    assert not job_fail(job=job, message="late", attempt=1, worker="w1@host")
    job.refresh_from_db()
    assert (job.status, job.records_read, job.error_message) == (JobStatus.WAITING, 5, "")


def test_a_job_taken_back_from_a_slow_worker_is_finished_by_the_next_one_once(
    alice, team_alpha, tmp_path
):
    job = slow_job(alice, team_alpha, tmp_path, seconds=0.01, records=400)
    first = run_in_thread(job, worker="slow@host")
    wait_until(job.pid_file.exists, message="the first child to start")
    first_pid = int(job.pid_file.read_text())
    # Its heartbeat row says it stopped: the reconciler takes the job back.
    Worker.objects.create(name="slow@host", last_seen_at=timezone.now(), stopped_at=timezone.now())

    assert reconcile()["restarted"] == 1

    first.join(timeout=10)
    assert not psutil.pid_exists(first_pid)  # the old supervisor killed its child
    job.refresh_from_db()
    assert job.status == JobStatus.WAITING
    assert job.log.rstrip().endswith("worker slow@host was lost; starting again (attempt 2 of 3)")
    assert stored_files(job) == []

    job_execute(job_uuid=str(job.uuid), worker="next@host")

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message
    assert (job.attempts, job.worker) == (2, "next@host")
    assert "worker slow@host was lost; starting again (attempt 2 of 3)" in job.log
    assert stored_files(job) == ["output.jsonl"]
    with job.output_asset().file.open("rb") as f:
        ids = [orjson.loads(line)["id"] for line in f]
    assert sorted(ids) == list(range(400))


def test_output_of_a_job_taken_back_just_before_commit_is_discarded(alice, team_alpha, monkeypatch):
    source = "# modelop.score\ndef action(datum):\n    yield datum\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}))
    real_commit = supervisor._commit

    def taken_back_then_commit(job, *args, **kwargs):
        # The reconciler thought the worker lost (say, a long pause) and took the job back.
        Job.objects.filter(pk=job.pk).update(status=JobStatus.WAITING)
        return real_commit(job, *args, **kwargs)

    monkeypatch.setattr(supervisor, "_commit", taken_back_then_commit)

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.WAITING
    assert not job.output_asset().file
    assert stored_files(job) == []


SUPERVISOR_STAND_IN = """\
import sys, time
from pathlib import Path
from jobs.worker.process import ChildProcess, child_environment

base = Path(sys.argv[1])  # a WorkDir's base
child = ChildProcess(
    workdir=base / "work", spec_path=base / "spec.json", log_path=base / "job.log",
    env=child_environment(pythonpath=sys.argv[2], tmpdir=str(base / "work/.moc/tmp")),
)
print(child.pid, flush=True)
time.sleep(600)
"""


def test_the_model_child_does_not_outlive_a_killed_supervisor(
    alice, team_alpha, tmp_path, settings
):
    from jobs.worker.workdir import WorkDir, workdir_prepare

    job = slow_job(alice, team_alpha, tmp_path, seconds=60)
    job.attempts = 1
    workdir = WorkDir.for_job(job)
    workdir_prepare(job=job, workdir=workdir)
    stand_in = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR_STAND_IN, str(workdir.base), str(settings.BASE_DIR)],
        stdout=subprocess.PIPE,
        cwd=settings.BASE_DIR,
    )
    child = process_of(int(stand_in.stdout.readline()))
    wait_until(job.pid_file.exists, message="the model to start")

    stand_in.kill()  # SIGKILL: no clean-up of its own
    stand_in.wait()
    killed_at = time.monotonic()

    wait_until(lambda: process_gone(child), timeout=5, message="the orphaned child to end")
    assert time.monotonic() - killed_at < 2


def test_a_work_dir_left_by_a_killed_attempt_is_removed_by_the_next(alice, team_alpha, settings):
    source = "# modelop.score\ndef action(datum):\n    yield datum\n"
    job = submit(alice, snapshot_of(source, owner=alice, team=team_alpha), embedded({"x": 1}))
    Job.objects.filter(pk=job.pk).update(attempts=1)  # attempt 1's worker was killed
    leftover = settings.JOB_WORK_DIR / f"{job.uuid}-1" / "inputs"
    leftover.mkdir(parents=True)
    (leftover / "0-input.jsonl").write_text('{"x": 1}\n')

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.COMPLETE, 2)
    assert list(settings.JOB_WORK_DIR.iterdir()) == []
