"""A supervisor's claim on its job, and preparing the job's work dir under it.

The claim (attempt number and worker) guards every change the supervisor makes (fencing): once
the job was taken back from a worker thought lost (jobs/reconciler.py), or cancelled, nothing
the old supervisor saves or commits lands. It also carries the runtime's limits.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections

from jobs.assets import Stop
from jobs.models import Job, JobStatus, Runtime
from jobs.runner.errors import JobError
from jobs.runner.spec import JobSpec
from jobs.services import job_progress_save
from jobs.worker.db import db_retry, db_try
from jobs.worker.process import log_tail
from jobs.worker.workdir import WorkDir, workdir_prepare

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Claim:
    """A supervisor's claim on the job. Every change it makes is guarded by it (fencing):
    once the job was taken back from a worker thought lost, or cancelled, nothing it saves
    or commits lands."""

    attempt: int
    worker: str
    started: float  # time.monotonic() at the claim, for the time limit
    time_limit: int | None  # seconds
    memory_limit: int | None  # MB

    @classmethod
    def of(cls, job: Job, worker: str) -> Claim:
        runtime = Runtime.objects.filter(pk=job.runtime_id).first()
        return cls(
            attempt=job.attempts,
            worker=worker,
            started=time.monotonic(),
            time_limit=runtime.time_limit_seconds if runtime else None,
            memory_limit=runtime.memory_limit_mb if runtime else None,
        )

    @property
    def guard(self) -> dict:
        return {"attempt": self.attempt, "worker": self.worker}

    def holds(self, job: Job) -> bool:
        return db_retry(
            lambda: Job.objects.filter(
                pk=job.pk, status=JobStatus.RUNNING, attempts=self.attempt, worker=self.worker
            ).exists(),
            what=f"job {job.uuid}: claim check",
        )

    def over_time(self) -> str | None:
        if self.time_limit and time.monotonic() - self.started > self.time_limit:
            return f"stopped: ran longer than the time limit of {self.time_limit} s"
        return None

    def over_memory(self, used: int) -> str | None:
        if self.memory_limit and used > self.memory_limit * 1024 * 1024:
            return f"stopped: used more than {self.memory_limit} MB"
        return None


def workdir_prepare_watched(*, job: Job, workdir: WorkDir, claim: Claim) -> JobSpec | None:
    """workdir_prepare in a thread of its own, so that a cancel (or the job being taken back)
    while a big input is staged takes effect at once; None then. The thread is told to stop:
    an S3/HDFS download or a SQL query in progress is broken off (see jobs.assets.Stop), and
    the thread removes its leftovers when it ends. Progress saves meanwhile tell the
    reconciler we are alive."""
    _remove_earlier_attempts(job)
    result: dict = {}
    done, abandoned = threading.Event(), threading.Event()
    stop = Stop()

    def abandon() -> None:
        abandoned.set()
        stop.set()

    def prepare() -> None:
        try:
            result["spec"] = workdir_prepare(job=job, workdir=workdir, stop=stop)
        except BaseException as exc:
            result["error"] = exc
        finally:
            connections.close_all()  # this thread's own connection
            done.set()
            if abandoned.is_set():
                workdir.remove()

    threading.Thread(target=prepare, name=f"job-prepare-{job.uuid}", daemon=True).start()
    next_save = time.monotonic() + settings.JOB_PROGRESS_SECONDS
    while not done.wait(_POLL_SECONDS):
        if stopped := claim.over_time():
            abandon()
            raise JobError(stopped)
        if time.monotonic() >= next_save:
            # The log so far (the model's environment being built, jobs/worker/envs.py).
            tail = log_tail(workdir.log_path, settings.JOB_LOG_TAIL_BYTES)
            log = {"log": tail} if tail else {}
            saved = db_try(
                lambda log=log: job_progress_save(job=job, **claim.guard, **log),
                what=f"job {job.uuid}: progress", default=None,
            )  # fmt: skip
            if saved is False:
                abandon()
                logger.info("job %s is no longer running; stopped preparing it", job.uuid)
                return None
            next_save = time.monotonic() + settings.JOB_PROGRESS_SECONDS
    if "error" in result:
        raise result["error"]
    _log_earlier_attempts(job, workdir)
    return result["spec"]


def _remove_earlier_attempts(job: Job) -> None:
    """Work dirs an earlier attempt left on this machine (its worker was killed). Were its
    supervisor only slow, it is fenced off anyway."""
    for attempt in range(1, job.attempts):
        WorkDir(Path(settings.JOB_WORK_DIR) / f"{job.uuid}-{attempt}").remove()


def _log_earlier_attempts(job: Job, workdir: WorkDir) -> None:
    """A job started again says so at the top of its new log (why the earlier attempts
    ended), since the log shown is this attempt's."""
    if job.attempts <= 1:
        return
    from jobs.worker.reconciler import lost_notes

    notes = lost_notes(job.log)
    if notes:
        with open(workdir.log_path, "a", encoding="utf-8") as log:
            log.write("".join(f"{note}\n" for note in notes))
