"""Fault test with real processes: SIGKILL a Celery worker in the middle of a scoring job and
check that another worker finishes the job with every output record exactly once.

Each iteration: submit the demo iris model on ROWS generated records (with an id) to a
runtime of its own, wait until the job runs and has read a random share of its input,
SIGKILL the worker process (no clean-up of any kind), start a new worker, wait for COMPLETE,
then check: output rows == input rows, ids unique and all there, attempts == 2, the killed
worker's model process gone. The new worker is the one killed in the next iteration.

Uses the configured database, broker and DATA_DIR (DATABASE_URL, BROKER_URL, DATA_DIR), with
short heartbeat and reconcile periods for its workers. Prints a line per iteration and a
summary; exits 1 on any failure:

    .venv/bin/python scripts/fault_kill_worker.py --iterations 5
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
WORKER_ENV = {
    "HEARTBEAT_SECONDS": "1",
    "WORKER_STALE_SECONDS": "3",
    "WORKER_OFFLINE_SECONDS": "5",
    "RECONCILE_SECONDS": "2",
    "JOB_PROGRESS_SECONDS": "0.3",
    "JOB_CHUNK_BYTES": "0",  # batch-mode chunks of JOB_CHUNK_ROWS rows, which the pace is per
}


class Failure(Exception):
    pass


def wait(condition, *, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class WorkerProcess:
    """`celery worker` on QUEUE, as a real deployment runs it (threads pool)."""

    def __init__(self, *, queue: str, name: str, log_dir: Path) -> None:
        self.name = f"{name}@{os.uname().nodename}"
        self.log_path = log_dir / f"{name}.log"
        from jobs.worker.command import celery_worker_argv  # the project is on sys.path by now

        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                celery_worker_argv(queues=queue, hostname=self.name, concurrency=1),
                env={**os.environ, **WORKER_ENV},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready():
            if self.popen.poll() is not None:
                raise Failure(f"worker {self.name} exited:\n{self.log_tail()}")
            return b" ready." in self.log_path.read_bytes()

        wait(ready, timeout=timeout, what=f"worker {self.name} to start", every=0.2)

    def model_processes(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.popen.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]


PACE_SECONDS = 0.15  # per chunk of JOB_CHUNK_ROWS (10,000) rows


def paced_source(source: str) -> str:
    """The demo model, slowed down per chunk, so a job runs for seconds on any machine and the
    kill lands while it runs (a fast machine finished 200,000 rows before the kill once)."""
    paced = source.replace("import pickle\n", "import pickle\nimport time\n", 1).replace(
        "def action(data):\n", f"def action(data):\n    time.sleep({PACE_SECONDS})\n", 1
    )
    if paced.count("time.sleep(") != 1 or "import time" not in paced:
        raise Failure("the demo model's source changed; cannot pace it")
    return paced


def setup(rows: int, tmp: Path):
    """A user, team, the demo model, a runtime on a queue of its own, the input upload."""
    from django.contrib.auth.models import Group, User
    from django.core.files import File
    from django.core.files.base import ContentFile

    from jobs.models import Runtime
    from jobs.services import upload_create
    from models_registry import demo
    from models_registry.services import model_create

    tag = uuid.uuid4().hex[:8]
    team = Group.objects.create(name=f"fault-{tag}")
    user = User.objects.create_user(username=f"fault-{tag}")
    user.groups.add(team)
    snapshot = model_create(
        owner=user,
        team=team,
        name=f"iris-fault-{tag}",
        source_name=demo.SOURCE_NAME,
        source=paced_source(demo.source()),
        attachments=[ContentFile(demo.train_pickle(), name="model.pickle")],
    ).latest_snapshot()
    runtime = Runtime.objects.create(name=f"fault-{tag}", queue=f"fault-{tag}", max_attempts=3)
    path = demo.write_sample_jsonl(tmp / "input.jsonl", rows)
    with open(path, "rb") as f:
        upload = upload_create(owner=user, content=File(f, name="input.jsonl"))
    return user, snapshot, runtime, upload


def submit(user, snapshot, runtime, upload):
    from jobs.models import JobAsset
    from jobs.services import InputSpec, OutputSpec, job_submit

    return job_submit(
        user=user,
        snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
        output=OutputSpec(kind=JobAsset.Kind.FILE, name="scores.jsonl"),
        runtime=runtime,
    )


def check_output(job, rows: int) -> None:
    import orjson

    with job.output_asset().file.open("rb") as f:
        ids = [orjson.loads(line)["id"] for line in f]
    if len(ids) != rows:
        raise Failure(f"the output has {len(ids)} rows, the input {rows}")
    if len(set(ids)) != rows:
        raise Failure(f"the output repeats {rows - len(set(ids))} ids")
    if set(ids) != set(range(1, rows + 1)):
        raise Failure("the output's ids are not the input's")


def iteration(n: int, *, worker: WorkerProcess, queue: str, log_dir: Path, job_args, rows: int):
    """One kill and recovery; returns the new worker (which serves the next iteration) and the
    figures of this one."""
    from jobs.models import Job, JobStatus

    job = submit(*job_args)
    share = random.uniform(0.0, 0.7)  # of the input read when the worker is killed

    def running_far_enough():
        job.refresh_from_db()
        if job.status not in (JobStatus.WAITING, JobStatus.RUNNING):
            raise Failure(f"the job ended {job.status} before the kill: {job.error_message}")
        return (
            job.status == JobStatus.RUNNING
            and job.bytes_total
            and job.bytes_read >= share * job.bytes_total
        )

    wait(running_far_enough, timeout=60, what="the job to run", every=0.05)
    children = worker.model_processes()
    read_at_kill = job.bytes_read / job.bytes_total
    worker.kill()
    killed_at = time.monotonic()

    replacement = WorkerProcess(queue=queue, name=f"fault-{n + 1}-{uuid.uuid4().hex[:4]}",
                                log_dir=log_dir)  # fmt: skip

    def orphans():
        return [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    wait(lambda: not orphans(), timeout=5, what="the killed worker's model process to end")
    children_gone = time.monotonic() - killed_at
    replacement.wait_ready()

    def claimed_again():
        job.refresh_from_db()
        if job.status == JobStatus.ERROR:
            raise Failure(f"the job ended in ERROR: {job.error_message}")
        return job.attempts >= 2 and job.status in (JobStatus.RUNNING, JobStatus.COMPLETE)

    wait(claimed_again, timeout=60, what="the job to be started again")
    recovered = time.monotonic() - killed_at
    job = Job.objects.get(pk=job.pk)
    wait(
        lambda: Job.objects.filter(pk=job.pk, status__in=["COMPLETE", "ERROR"]).exists(),
        timeout=120,
        what="the job to end",
    )
    done = time.monotonic() - killed_at
    job.refresh_from_db()
    if job.status != JobStatus.COMPLETE:
        raise Failure(f"the job ended {job.status}: {job.error_message}")
    if job.attempts != 2:
        raise Failure(f"attempts is {job.attempts}, not 2")
    if job.worker != replacement.name:
        raise Failure(f"the job was finished by {job.worker}, not {replacement.name}")
    if f"worker {worker.name} was lost; starting again (attempt 2 of 3)" not in job.log:
        raise Failure("the job's log does not say that the worker was lost")
    check_output(job, rows)
    return replacement, {
        "read_at_kill": read_at_kill,
        "children_gone": children_gone,
        "recovered": recovered,
        "done": done,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    random.seed(args.seed)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commandcenter.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    tmp = Path(tempfile.mkdtemp(prefix="fault-kill-"))
    job_args = setup(args.rows, tmp)
    queue = job_args[2].queue
    worker = WorkerProcess(queue=queue, name=f"fault-0-{uuid.uuid4().hex[:4]}", log_dir=tmp)
    failures, figures = 0, []
    try:
        worker.wait_ready()
        for n in range(1, args.iterations + 1):
            started = time.monotonic()
            try:
                worker, got = iteration(
                    n, worker=worker, queue=queue, log_dir=tmp, job_args=job_args, rows=args.rows
                )
            except Failure as exc:
                failures += 1
                print(f"iteration {n}: FAILED: {exc}", flush=True)
                worker.stop()
                worker = WorkerProcess(queue=queue, name=f"fault-r{n}", log_dir=tmp)
                worker.wait_ready()
                continue
            figures.append(got)
            print(
                f"iteration {n}: ok: killed at {got['read_at_kill']:.0%} of the input; "
                f"model process gone {got['children_gone']:.1f} s after the kill; "
                f"started again after {got['recovered']:.1f} s; complete after "
                f"{got['done']:.1f} s; {args.rows:,} rows, ids unique "
                f"({time.monotonic() - started:.1f} s)",
                flush=True,
            )
    finally:
        worker.stop()
    if figures:
        recovered = sorted(f["recovered"] for f in figures)
        print(
            f"summary: {len(figures)} of {args.iterations} iterations ok; started again after "
            f"{recovered[0]:.1f}-{recovered[-1]:.1f} s (median "
            f"{recovered[len(recovered) // 2]:.1f} s); worker logs in {tmp}",
            flush=True,
        )
    else:
        print(f"summary: 0 of {args.iterations} iterations ok; worker logs in {tmp}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
