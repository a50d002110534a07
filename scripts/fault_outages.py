"""Fault test with real processes: database and broker outages while a scoring job runs.

Faults, each looped ITERATIONS times with a fresh job:
- terminate:     pg_terminate_backend on every PostgreSQL connection of the worker, three times
                 during the job (what a fail-over or a pooler's idle timeout does)
- pg-restart:    PostgreSQL restarted (pg_ctlcluster ... restart) during the job
- redis-restart: Redis shut down and started again with two jobs queued and one running

After each: the jobs complete, every output record exactly once, the worker serves the next
job. Prints a line per iteration (recovery seconds: from the fault's end to COMPLETE) and a
summary; exits 1 on any failure. Uses DATABASE_URL/BROKER_URL/DATA_DIR as configured:

    .venv/bin/python scripts/fault_outages.py --fault terminate --iterations 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from fault_kill_worker import (  # noqa: E402 (the scripts folder is on the path from here)
    WORKER_ENV,  # noqa: E402
    Failure,
    WorkerProcess,
    check_output,
    setup,
    submit,
    wait,
)

# Messages lost with a Redis that keeps nothing on disk are sent again after this long.
WORKER_ENV.setdefault("RECONCILE_RESEND_SECONDS", "5")

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]  # fmt: skip, as the machine starts it


def _worker_backends(worker: WorkerProcess) -> list[int]:
    """PostgreSQL backend pids serving the worker's connections (matched by client port)."""
    from django.db import connection

    try:
        ports = {
            c.laddr.port
            for c in psutil.Process(worker.popen.pid).net_connections(kind="tcp")
            if c.raddr and c.raddr.port == int(connection.settings_dict["PORT"] or 5432)
        }
    except psutil.Error:
        return []
    if not ports:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%s)", [sorted(ports)]
        )
        return [row[0] for row in cursor.fetchall()]


def _terminate(worker: WorkerProcess) -> int:
    from django.db import connection

    pids = _worker_backends(worker)
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    return len(pids)


def _pg_restart() -> None:
    from django.db import connection

    connection.close()
    version = os.listdir("/etc/postgresql")[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True, capture_output=True,
    )  # fmt: skip
    wait(lambda: subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0,
         timeout=60, what="PostgreSQL to answer")  # fmt: skip


def _redis_restart() -> None:
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    wait(lambda: subprocess.run(["redis-cli", "ping"], capture_output=True).returncode != 0,
         timeout=20, what="Redis to stop")  # fmt: skip
    time.sleep(1.0)
    subprocess.run(REDIS_START, check=True, capture_output=True)
    wait(lambda: subprocess.run(["redis-cli", "ping"], capture_output=True).returncode == 0,
         timeout=20, what="Redis to answer")  # fmt: skip


def _db_retry(fn, *, timeout: float = 60):
    """FN(), again while the database is away (the script's own connection, during a restart)."""
    from django.db import OperationalError, connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except OperationalError:
            connection.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _wait_running(job, share: float) -> None:
    from jobs.models import JobStatus

    def far_enough():
        job.refresh_from_db()
        if job.status not in (JobStatus.WAITING, JobStatus.RUNNING):
            raise Failure(f"the job ended {job.status} before the fault: {job.error_message}")
        return (
            job.status == JobStatus.RUNNING
            and job.bytes_total
            and (job.bytes_read >= share * job.bytes_total)
        )

    wait(far_enough, timeout=60, what="the job to run", every=0.05)


def _wait_done(job, *, timeout: float = 180):
    from jobs.models import JobStatus

    def ended():
        job.refresh_from_db()
        return job.status in (JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED)

    wait(lambda: _db_retry(ended), timeout=timeout, what=f"job {job.uuid} to end", every=0.2)
    if job.status != JobStatus.COMPLETE:
        raise Failure(f"the job ended {job.status}: {job.error_message}")


def iteration(fault: str, *, worker: WorkerProcess, job_args, rows: int) -> dict:
    job = submit(*job_args)
    figures: dict = {}
    if fault == "terminate":
        for share in (0.1, 0.35, 0.6):
            _wait_running(job, share)
            figures.setdefault("terminated", []).append(_terminate(worker))
        fault_end = time.monotonic()
    elif fault == "pg-restart":
        _wait_running(job, 0.3)
        _pg_restart()
        fault_end = time.monotonic()
    elif fault == "redis-restart":
        queued = [submit(*job_args), submit(*job_args)]
        _wait_running(job, 0.3)
        _redis_restart()
        fault_end = time.monotonic()
    else:
        raise SystemExit(f"no fault {fault!r}")
    _wait_done(job)
    check_output(job, rows)
    if fault == "redis-restart":
        for other in queued:
            _wait_done(other)
            check_output(other, rows)
    figures["recovered"] = time.monotonic() - fault_end  # every job of the iteration COMPLETE
    # The worker serves the next job at once.
    after = submit(*job_args)
    started = time.monotonic()
    _wait_done(after)
    check_output(after, rows)
    figures["next_job"] = time.monotonic() - started
    figures["attempts"] = job.attempts
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=["terminate", "pg-restart", "redis-restart"])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commandcenter.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql" and args.fault != "redis-restart":
        raise SystemExit("this fault needs DATABASE_URL pointing at PostgreSQL")

    tmp = Path(tempfile.mkdtemp(prefix="fault-outage-"))
    job_args = setup(args.rows, tmp)
    worker = WorkerProcess(
        queue=job_args[2].queue, name=f"outage-{uuid.uuid4().hex[:4]}", log_dir=tmp
    )
    ok, recovered = 0, []
    try:
        worker.wait_ready()
        for n in range(1, args.iterations + 1):
            started = time.monotonic()
            try:
                got = iteration(args.fault, worker=worker, job_args=job_args, rows=args.rows)
            except Failure as exc:
                print(f"{args.fault} {n}: FAILED: {exc}\n{worker.log_tail(2000)}", flush=True)
                continue
            ok += 1
            recovered.append(got["recovered"])
            extra = f"; connections terminated {got['terminated']}" if "terminated" in got else ""
            print(
                f"{args.fault} {n}: ok: complete {got['recovered']:.1f} s after the fault, "
                f"attempts {got['attempts']}, every record once; next job took "
                f"{got['next_job']:.1f} s{extra} ({time.monotonic() - started:.1f} s)",
                flush=True,
            )
    finally:
        worker.stop()
    recovered.sort()
    span = f"{recovered[0]:.1f}-{recovered[-1]:.1f} s" if recovered else "-"
    print(f"summary: {args.fault}: {ok} of {args.iterations} iterations ok; complete {span} "
          f"after the fault; worker log in {tmp}", flush=True)  # fmt: skip
    return 0 if ok == args.iterations else 1


if __name__ == "__main__":
    sys.exit(main())
