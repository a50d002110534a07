"""Real worker processes for the fault tests: `manage.py runworker` as an operator starts it,
on the test database and broker, with short heartbeat and reconcile periods."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
from django.conf import settings

from jobs.models import Job, JobAsset, Runtime
from jobs.services import InputSpec, job_submit
from models_registry.services import model_create
from tests.conftest import _worker_database_url

# A silent worker is offline after 4 s (a paused one's models end 1.75 s after the pause,
# when their leases run out); reconcilers look twice a second.
FAST = {
    "HEARTBEAT_SECONDS": "0.5",
    "WORKER_STALE_SECONDS": "1.5",
    "WORKER_OFFLINE_SECONDS": "4",
    "RECONCILE_SECONDS": "0.5",
    "JOB_PROGRESS_SECONDS": "0.3",
}
OFFLINE_SECONDS = float(FAST["WORKER_OFFLINE_SECONDS"])


class RunWorker:
    def __init__(self, popen: subprocess.Popen, log_path: Path) -> None:
        self.popen = popen
        self.pid = popen.pid  # runworker execs the Celery worker: the same process
        self.log_path = log_path
        self.name = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGCONT)  # a test may have paused it
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def runworker_start(
    *, runtime: Runtime, log_path: Path, concurrency: int = 1, hostname: str = "", env=None
) -> RunWorker:
    """`manage.py runworker --runtime NAME`, waited for until it says "ready."."""
    argv = [sys.executable, "manage.py", "runworker", "--runtime", runtime.name,
            "--concurrency", str(concurrency)]  # fmt: skip
    if hostname:
        argv += ["--hostname", hostname]
    full_env = {**os.environ, "DATABASE_URL": _worker_database_url(), **FAST, **(env or {})}
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            argv, env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR
        )
    worker = RunWorker(popen, log_path)
    deadline = time.monotonic() + 60
    while b" ready." not in log_path.read_bytes():
        if popen.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise AssertionError(f"runworker did not start:\n{worker.log()[-3000:]}")
        time.sleep(0.1)
    worker.name = re.search(r"^Worker (\S+) for runtime", worker.log(), re.M).group(1)
    return worker


def fresh_runtime(**fields) -> Runtime:
    tag = uuid.uuid4().hex[:8]
    return Runtime.objects.create(name=f"rt-{tag}", queue=f"rt-{tag}", **fields)


def snapshot_of(source: str, *, owner, team):
    return model_create(
        owner=owner, team=team, name=f"m-{uuid.uuid4().hex[:6]}", source_name="model.py",
        source=source,
    ).latest_snapshot()  # fmt: skip


def records(n: int) -> str:
    return "".join(f'{{"id": {i}}}\n' for i in range(1, n + 1))


def submit(user, snapshot, runtime: Runtime, data: str, **options) -> Job:
    return job_submit(
        user=user,
        snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data)],
        runtime=runtime,
        **options,
    )


def process_of(pid: int, *, told_at: float | None = None) -> psutil.Process | int | None:
    """PID's process, known by its start time too; the PID alone when it has ended already.
    TOLD_AT: when the process gave its PID (a file's mtime); a process under that PID started
    later is another one (the PID reused: the suite starts thousands), and None is returned:
    the one that was told of has ended."""
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return pid
    if told_at is not None and process.create_time() > told_at + 0.05:
        return None
    return process


def process_gone(process: psutil.Process | int | None) -> bool:
    """PROCESS has ended: no such process, one that ended and is not reaped yet (a zombie), or,
    given a psutil.Process, another process under its PID (the suite starts thousands: PIDs
    wrap around at 32,768 within minutes)."""
    if process is None:  # process_of found another under its PID
        return True
    try:
        if isinstance(process, psutil.Process):
            if not process.is_running():  # compares the start time: a reused PID is not it
                return True
            return process.status() == psutil.STATUS_ZOMBIE
        return psutil.Process(process).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait(condition, *, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return value


def output_ids(job: Job) -> list[int]:
    import orjson

    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line)["id"] for line in f]
