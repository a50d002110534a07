"""The reconciler: the database is the source of truth, so the jobs it says should be moving
are made to move, whatever happened to the broker or to a worker.

One pass (reconcile()):
1. a WAITING job whose message was last sent RECONCILE_RESEND_SECONDS ago (or never) is sent
   again, when its queue holds fewer messages than it has waiting jobs (Redis restarted or
   flushed, the embedded broker's files removed); a duplicate is harmless, the claim is
   guarded;
2. a WAITING job with no runtime is placed (jobs.services.placement.job_place);
3. a RUNNING job whose worker is lost (its heartbeat row offline or stopped, its process
   restarted since the claim, or, with no row, no progress for WORKER_OFFLINE_SECONDS) goes
   back to WAITING and is sent again, or ends in ERROR once it had max_attempts attempts.
   The embedded broker deletes a message when a worker takes it, and Redis keeps an unacked
   one for hours, so this is what runs a killed worker's job again. The old supervisor, if it
   was only slow, is fenced off: its saves are guarded by its claim (attempt and worker).
   Each worker process has a name of its own (jobs/worker/identity.py), so a row speaks for
   the one process that claimed the job;
4. a RUNNING job this very worker claimed but no longer has in hand (its supervisor ended
   without finishing it, e.g. on a database error) is given back the same way, at once.

Every pass also removes the work dirs of attempts that are over (workdir_sweep).

Every change is a conditional UPDATE, so the reconcilers of several workers can run at once.
Every worker process runs one, in a daemon thread started on Celery's worker_ready signal.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import defaultdict
from datetime import UTC, timedelta

from celery import signals
from django.conf import settings
from django.db import close_old_connections
from django.db.models import F, Q
from django.utils import timezone

from jobs.models import Job, JobStatus, Worker
from jobs.selectors import OFFLINE, worker_state
from jobs.services import lifecycle, placement
from jobs.services.uploads import upload_sweep
from jobs.worker.db import LOST as DATABASE_LOST
from jobs.worker.db import connection_drop
from jobs.worker.heartbeat import jobs_in_hand
from jobs.worker.workdir import workdir_sweep

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3  # a job whose runtime was deleted
# A note may start with the time it was written ("[2026-01-01 10:00:00 UTC] worker ...").
_LOST_NOTE = re.compile(
    r"^(?:\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\] )?worker .+; starting again "
    r"\(attempt \d+ of \d+\)$",
    re.M,
)
LOST = "was lost"
DROPPED = "dropped it (its supervisor ended without finishing it)"


def lost_note(*, worker: str, attempt: int, max_attempts: int, why: str = LOST) -> str:
    return f"worker {worker} {why}; starting again (attempt {attempt} of {max_attempts})"


def lost_notes(log: str) -> list[str]:
    """The reconciler's notes in a job's log, oldest first, each once."""
    return list(dict.fromkeys(_LOST_NOTE.findall(log or "")))


def reconcile(*, now=None) -> dict[str, int]:
    """One pass; returns how many jobs it sent again, placed, restarted and failed."""
    now = now or timezone.now()
    return {
        "resent": _resend_waiting(now),
        "placed": _place_unplaced(),
        **_recover_running(now),
        "given_back": _give_back_dropped(now),
    }


# --- 1. WAITING jobs whose message may be lost ----------------------------------------------


def _resend_waiting(now) -> int:
    cutoff = now - timedelta(seconds=settings.RECONCILE_RESEND_SECONDS)
    # Never sent: made that long ago too (a job just submitted is about to be sent).
    not_sent_lately = Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, created_at__lt=cutoff)
    stale = (
        Job.objects.filter(not_sent_lately, status=JobStatus.WAITING, runtime__isnull=False)
        .select_related("runtime")
        .order_by(F("enqueued_at").asc(nulls_first=True), "id")
    )
    by_queue: dict[str, list[Job]] = defaultdict(list)
    for job in stale:
        by_queue[job.runtime.queue].append(job)
    resent = 0
    for queue, jobs in by_queue.items():
        queued = _queued_messages(queue)
        if queued is not None:
            waiting = Job.objects.filter(status=JobStatus.WAITING, runtime__queue=queue).count()
            jobs = jobs[: max(waiting - queued, 0)]
        for job in jobs:
            # The claim: only one reconciler (of several workers) sends it.
            claimed = Job.objects.filter(not_sent_lately, pk=job.pk, status=JobStatus.WAITING)
            if claimed.update(enqueued_at=now) != 1:
                continue
            logger.warning("job %s was waiting with no message; sending it again", job.uuid)
            placement.job_enqueue(job_uuid=job.uuid, queue=queue)
            resent += 1
    return resent


def _queued_messages(queue: str) -> int | None:
    """How many messages QUEUE holds, None when the broker cannot say. Declaring the queue
    also makes its binding again, which a flushed Redis has lost."""
    from commandcenter.celery import app

    try:
        with app.connection_for_write() as conn:
            bound = app.amqp.queues[queue].bind(conn.default_channel)
            bound.declare()
            # Not passive: Redis has no key for an empty (or flushed) queue.
            return bound.queue_declare().message_count
    except Exception:
        logger.exception("could not count the messages in queue %s", queue)
        return None


# --- 2. WAITING jobs with no runtime ------------------------------------------------------


def _place_unplaced() -> int:
    placed = 0
    for job in Job.objects.filter(status=JobStatus.WAITING, runtime__isnull=True):
        try:
            placed += bool(placement.job_place(job=job))
        except Exception:
            logger.exception("could not place job %s", job.uuid)
    return placed


# --- 3. RUNNING jobs of lost workers ------------------------------------------------------


def _worker_lost(job: Job, worker: Worker | None, now) -> bool:
    if worker is not None:
        if worker.started_at and job.started_at and worker.started_at > job.started_at:
            return True  # the worker's process started after the claim: the claimant is gone
        return worker_state(worker, now=now) == OFFLINE
    # No heartbeat row: the supervisor saves progress every JOB_PROGRESS_SECONDS while alive.
    last = max(t for t in (job.progress_at, job.started_at, job.updated_at) if t)
    return (now - last).total_seconds() > settings.WORKER_OFFLINE_SECONDS


def _recover_running(now) -> dict[str, int]:
    running = list(Job.objects.filter(status=JobStatus.RUNNING).select_related("runtime"))
    workers = {w.name: w for w in Worker.objects.filter(name__in={j.worker for j in running})}
    done = {"restarted": 0, "failed": 0}
    for job in running:
        if _worker_lost(job, workers.get(job.worker), now):
            if outcome := job_take_back(job=job, why=LOST, now=now):
                done[outcome] += 1
    return done


def job_take_back(*, job: Job, why: str, now=None) -> str | None:
    """Take JOB back from the claim it was loaded with (job.attempts, job.worker): WAITING and
    sent again, or ERROR once it had its runtime's max_attempts. Guarded by that claim, as the
    old supervisor's saves are: exactly one taker. Returns "restarted", "failed", or None when
    the job had moved on meanwhile. WHY says what became of the worker, for the log."""
    now = now or timezone.now()
    max_attempts = job.runtime.max_attempts if job.runtime else DEFAULT_MAX_ATTEMPTS
    if job.attempts >= max_attempts:
        if why == LOST:
            message = f"the worker running it was lost {job.attempts} times (last: {job.worker})"
        else:
            message = f"worker {job.worker} {why}, at the last of {max_attempts} attempts"
        if lifecycle.job_fail(job=job, message=message, attempt=job.attempts, worker=job.worker):
            logger.warning("job %s: %s", job.uuid, message)
            return "failed"
        return None
    note = lost_note(
        worker=job.worker, attempt=job.attempts + 1, max_attempts=max_attempts, why=why
    )
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    log = f"{job.log.rstrip()}\n[{stamp}] {note}\n".lstrip()[-settings.JOB_LOG_TAIL_BYTES :]
    taken = Job.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts, worker=job.worker
    ).update(status=JobStatus.WAITING, log=log, enqueued_at=now, updated_at=now)
    if taken != 1:
        return None
    logger.warning("job %s: %s", job.uuid, note)
    if job.runtime is not None:  # else the next pass places it
        placement.job_enqueue(job_uuid=job.uuid, queue=job.runtime.queue)
    return "restarted"


# --- 4. RUNNING jobs this worker dropped ----------------------------------------------------

# This worker process's name, when its pool runs tasks in this process (threads, solo), so
# that the jobs-in-hand registry here is the one its supervisors fill.
_own_name: str | None = None


def _give_back_dropped(now) -> int:
    if _own_name is None:
        return 0
    mine = list(
        Job.objects.filter(status=JobStatus.RUNNING, worker=_own_name).select_related("runtime")
    )
    # Read after the jobs: each was claimed before that query, so put in hand before it
    # (run_job does so before the claim); missing now, its supervisor has returned.
    held = set(jobs_in_hand())
    given = 0
    for job in mine:
        if str(job.uuid) not in held and job_take_back(job=job, why=DROPPED, now=now):
            given += 1
    return given


# --- The thread in every worker ------------------------------------------------------------


_SWEEP_SECONDS = 3600  # unused uploads are swept about once an hour by every worker


def _loop(stop: threading.Event) -> None:
    next_sweep = time.monotonic() + _SWEEP_SECONDS / 10  # soon after a start, then hourly
    while not stop.wait(settings.RECONCILE_SECONDS):
        try:
            close_old_connections()
            done = reconcile() | {"work_dirs_removed": workdir_sweep()}
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + _SWEEP_SECONDS
                done |= {f"unused {k}": v for k, v in upload_sweep().items()}
            if any(done.values()):
                logger.info("reconciled: %s", done)
        except DATABASE_LOST as exc:  # the database is away for a while; try again next time
            logger.warning("the reconciler cannot reach the database: %s", exc)
            connection_drop()
        except Exception:
            logger.exception("the reconciler failed")
            connection_drop()
    connection_drop()


_stop = threading.Event()


# Connected on import (jobs.apps); only a Celery worker process sends these signals.
@signals.worker_ready.connect(weak=False, dispatch_uid="jobs-reconciler")
def _on_worker_ready(sender=None, **kwargs) -> None:
    global _own_name
    pool = type(getattr(sender, "pool", None)).__module__.rsplit(".", 1)[-1]
    _own_name = sender.hostname if pool in ("thread", "solo", "gevent", "eventlet") else None
    _stop.clear()
    threading.Thread(target=_loop, args=(_stop,), name="reconciler", daemon=True).start()


@signals.worker_shutdown.connect(weak=False, dispatch_uid="jobs-reconciler-stop")
def _on_worker_shutdown(sender=None, **kwargs) -> None:
    _stop.set()
