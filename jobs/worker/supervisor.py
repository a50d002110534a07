"""Runs one job from inside the Celery worker: claim, prepare, spawn the child, watch it,
commit or discard its output. Model code never runs in this process.

job_execute never raises: whatever goes wrong ends as a job in ERROR with a reason, and a
cancelled job is left alone (its status was set by whoever cancelled it).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from jobs.assets import Declined, output_target
from jobs.metrics_size import metrics_fit
from jobs.models import Job, JobStatus
from jobs.runner.errors import JobError
from jobs.runner.spec import OUTPUT_DIR, JobSpec, manifest_path
from jobs.services import job_claim as _job_claim
from jobs.services import job_complete, job_publish_decide
from jobs.services import job_fail as _job_fail
from jobs.services import job_progress_save as _job_progress_save
from jobs.spark.outputs import PARTS_FOLDER
from jobs.worker.db import LOST, db_retry, db_try
from jobs.worker.fencing import Claim, workdir_prepare_watched
from jobs.worker.lease import LEASE_EXPIRED
from jobs.worker.process import (
    EOF,
    ChildProcess,
    event_line,
    exit_description,
    log_event,
    log_tail,
)
from jobs.worker.workdir import WorkDir, model_process_start, staged_file, staged_parts

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.1  # how often the loop looks at events, memory and the clock
_COUNTERS = ("records_read", "records_written", "records_rejected", "bytes_read")
_SANDBOX_KEYS = ("on", "abi", "note", "user", "network", "seccomp")


class _NotCommitted(Exception):
    """job_complete found the job no longer RUNNING: roll the asset update back."""


@dataclass
class _Watch:
    """What the supervisor learned from the child's events."""

    counts: dict = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    bytes_total: int | None = None
    final: dict | None = None  # the "done" or "error" event
    reported_peak: int = 0
    metrics: list | None = None  # a metrics job's results
    sandbox: dict | None = None  # what the model process ran under, as it said
    stopped: str | None = None  # why the supervisor killed the child (a limit)
    engine: dict | None = None  # a Spark job's stages, tasks, rows and UI (Job.engine_progress)

    def take(self, event: dict) -> None:
        for name in _COUNTERS:
            if isinstance(event.get(name), int):
                self.counts[name] = event[name]
        if isinstance(event.get("bytes_total"), int):
            self.bytes_total = event["bytes_total"]
        if isinstance(event.get("peak_memory"), int):
            self.reported_peak = event["peak_memory"]
        if event.get("event") == "metrics" and isinstance(event.get("metrics"), list):
            self.metrics = event["metrics"]
        if event.get("event") == "sandbox" and isinstance(event.get("sandbox"), dict):
            self.sandbox = {k: v for k, v in event["sandbox"].items() if k in _SANDBOX_KEYS}
        if event.get("event") == "engine" and isinstance(event.get("progress"), dict):
            self.engine = _engine_progress(event["progress"])
        if event.get("event") in ("done", "error"):
            self.final = event


_ENGINE_COUNTS = ("stages_done", "stages_total", "tasks_done", "tasks_total", "rows_read",
                  "rows_written", "percent", "eta_seconds", "rows_per_second")  # fmt: skip
_UI_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[^\s\"'<>]*)?$")
_APP_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


def _engine_progress(raw: dict) -> dict:
    """What the job page shows of a Spark job's progress, from the model process (untrusted):
    counts as integers, the UI's URL only when it is an http(s) address."""
    kept: dict = {"engine": "spark"}
    for name in _ENGINE_COUNTS:
        value = raw.get(name)
        kept[name] = value if isinstance(value, int) and value >= 0 else 0
    kept["percent"] = min(kept["percent"], 100)
    url, app = raw.get("ui_url"), raw.get("application_id")
    kept["ui_url"] = url if isinstance(url, str) and _UI_URL.match(url) else ""
    kept["application_id"] = app if isinstance(app, str) and _APP_ID.match(app) else ""
    return kept


# The guarded updates, patient with a database that is away for a while (jobs/worker/db.py).
def job_claim(*, job: Job, **kwargs) -> bool:
    return db_retry(lambda: _job_claim(job=job, **kwargs), what=f"job {job.uuid}: claim")


def job_fail(*, job: Job, **kwargs) -> bool:
    return db_retry(lambda: _job_fail(job=job, **kwargs), what=f"job {job.uuid}: fail")


def job_progress_save(*, job: Job, **kwargs) -> bool | None:
    """False: the job is no longer RUNNING under the claim; None: the database did not answer
    (the model goes on; the next save comes soon)."""
    return db_try(
        lambda: _job_progress_save(job=job, **kwargs), what=f"job {job.uuid}: progress",
        default=None,
    )  # fmt: skip


def job_execute(*, job_uuid: str, worker: str = "") -> None:
    try:
        _execute(job_uuid, worker or f"{socket.gethostname()}:{os.getpid()}")
    except Exception:  # e.g. the database went away: the job stays as it is, for a person
        logger.exception("job %s: the supervisor failed", job_uuid)


def _execute(job_uuid: str, worker: str) -> None:
    job = db_retry(lambda: Job.objects.filter(uuid=job_uuid).first(), what=f"job {job_uuid}")
    if job is None:
        logger.warning("job %s does not exist; nothing to run", job_uuid)
        return
    if not job_claim(job=job, worker=worker):
        # Another worker has it, or it was cancelled or has finished: a duplicate delivery
        # must not run a job twice.
        logger.info("job %s was not waiting; not running it", job_uuid)
        return
    job.refresh_from_db()  # the claim set attempts, which names the work dir
    claim = Claim.of(job, worker)
    workdir = WorkDir.for_job(job)
    try:
        spec = workdir_prepare_watched(job=job, workdir=workdir, claim=claim)
        if spec is not None:
            runtime = job.runtime.name if job.runtime else "the default runtime"
            log_event(
                workdir.log_path, f"queued on {runtime}", at=job.enqueued_at or job.created_at
            )
            log_event(workdir.log_path, f"claimed by worker {worker} (attempt {job.attempts}); "
                      "inputs staged; starting the model")  # fmt: skip
            _run(job, workdir, spec, claim)
    except JobError as exc:
        job_fail(
            job=job,
            message=str(exc),
            log=log_tail(workdir.log_path, settings.JOB_LOG_TAIL_BYTES),
            **claim.guard,
        )
    except LOST as exc:  # longer than DB_RETRY_SECONDS, or in the middle of preparing
        logger.warning("job %s: the database went away while it ran (%s)", job_uuid, exc)
        db_retry(
            lambda: _give_back(job, claim, why="lost its database connection"),
            what=f"job {job_uuid}: give back",
        )
    except Exception as exc:
        logger.exception("job %s: internal error", job_uuid)
        job_fail(job=job, message=f"internal error: {type(exc).__name__}: {exc}", **claim.guard)
    finally:
        workdir.remove()


def _run(job: Job, workdir: WorkDir, spec: JobSpec, claim: Claim) -> None:
    lease, child = model_process_start(workdir=workdir, runtime=job.runtime)
    oom_kills_before = _oom_kills()
    try:
        watch = _watch(job, child, claim)
    finally:
        lease.stop()
        child.finish()  # kills what is left of its process group, even on our own errors
    if watch is None:
        logger.info(
            "job %s is no longer running under this claim (cancelled, or taken back); "
            "its child was killed",
            job.uuid,
        )
        return
    if lease.expired:  # this worker was paused: the keeper ended the model
        _give_back(job, claim, why=f"{LEASE_EXPIRED} ({lease.seconds:g} s)", log=child)
        return
    _drain(child, watch)
    if watch.sandbox or watch.engine:
        extra = {"engine_progress": {**watch.engine, "ui_url": ""}} if watch.engine else {}
        job_progress_save(job=job, **({"sandbox": watch.sandbox} if watch.sandbox else {}),
                          **extra, **claim.guard)  # fmt: skip
    tail = child.log_tail(settings.JOB_LOG_TAIL_BYTES)
    peak = max(child.peak_memory, watch.reported_peak) or None
    final, returncode = watch.final, child.popen.returncode
    if watch.stopped:
        job_fail(
            job=job, message=watch.stopped, log=tail, peak_memory=peak, **watch.counts,
            **claim.guard,
        )  # fmt: skip
    elif final and final.get("event") == "done" and returncode == 0:
        commit = _commit_training if spec.job_type == "training" else _commit
        # Each try undoes what it did before it fails, so a whole commit may run again.
        db_retry(
            lambda: commit(job, workdir, spec, watch, claim, tail=tail, peak=peak),
            what=f"job {job.uuid}: commit",
        )
    elif final and final.get("event") == "error":
        job_fail(
            job=job,
            message=str(final.get("message") or "the model failed"),
            log=tail,
            peak_memory=peak,
            **watch.counts,
            **claim.guard,
        )
    else:
        killed = returncode == -signal.SIGKILL
        memory = killed and _was_memory(claim, peak, oom_kills_before)
        if killed and not memory and claim.attempt == 1:
            # Not for memory: an operator, or another program, killed it. Once, as for a lost
            # worker, the job starts again.
            child.log_note("the model process was killed from outside (SIGKILL); starting again")
            _give_back(job, claim, why="saw its model process killed from outside", log=child)
            return
        if memory:
            how = f"killed for memory{f' (peak {peak / 2**20:,.0f} MB)' if peak else ''}"
        elif killed:
            how = "killed by SIGKILL from outside, again"
        else:
            how = exit_description(returncode)
        message = f"the model process ended unexpectedly ({how})"
        job_fail(
            job=job, message=message, log=tail, peak_memory=peak, **watch.counts, **claim.guard
        )


def _watch(job: Job, child: ChildProcess, claim: Claim) -> _Watch | None:
    """Follow the child until it exits, or until it breaks a limit (then kill it and say why
    in watch.stopped); None when the job stopped RUNNING under our claim meanwhile."""
    watch = _Watch()
    next_save = time.monotonic() + settings.JOB_PROGRESS_SECONDS
    while child.poll() is None:
        if (event := child.next_event(_POLL_SECONDS)) is not None:
            watch.take(event)
        child.sample_memory()
        watch.stopped = (
            claim.over_memory(child.peak_memory) or claim.over_time() or _over_processes(child)
        )
        if watch.stopped:
            child.kill()
            child.log_note(watch.stopped)
            return watch
        if time.monotonic() >= next_save:
            saved = job_progress_save(
                job=job,
                **claim.guard,
                **watch.counts,
                **({"bytes_total": watch.bytes_total} if watch.bytes_total else {}),
                log=child.log_tail(settings.JOB_LOG_TAIL_BYTES),
                peak_memory=max(child.peak_memory, watch.reported_peak) or None,
                **({"sandbox": watch.sandbox} if watch.sandbox else {}),
                **({"engine_progress": watch.engine} if watch.engine else {}),
            )
            if saved is False:  # cancelled (or failed by someone else): stop the model now
                child.kill()
                return None
            next_save = time.monotonic() + settings.JOB_PROGRESS_SECONDS
    return watch


def _give_back(job: Job, claim: Claim, *, why: str, log: ChildProcess | None = None) -> None:
    """Another attempt, as for a lost worker, if the job is still ours."""
    from jobs.worker.reconciler import job_take_back

    held = (
        Job.objects.select_related("runtime")
        .filter(pk=job.pk, status=JobStatus.RUNNING, attempts=claim.attempt, worker=claim.worker)
        .first()
    )
    if held is None:
        logger.info("job %s was taken back meanwhile", job.uuid)
        return
    if log is not None:
        held.log = log.log_tail(settings.JOB_LOG_TAIL_BYTES)  # this attempt's log, with the note
    job_take_back(job=held, why=why)


def _oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has ended since boot."""
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _was_memory(claim: Claim, peak: int | None, oom_kills_before: int | None) -> bool:
    """Whether a SIGKILL was for memory: the kernel's OOM killer struck meanwhile, or the
    process was near its limit (its runtime's, or what the machine had)."""
    after = _oom_kills()
    if oom_kills_before is not None and after is not None and after > oom_kills_before:
        return True
    if not peak:
        return False
    limit = claim.memory_limit * 2**20 if claim.memory_limit else psutil.virtual_memory().total
    return peak >= 0.9 * limit


def _over_processes(child: ChildProcess) -> str | None:
    allowed = settings.MODEL_MAX_PROCESSES
    if child.processes - 1 > allowed:  # the keeper is ours
        return f"stopped: the model started more than {allowed} processes (MODEL_MAX_PROCESSES)"
    return None


def _committed_line(job: Job, watch: _Watch) -> str:
    """The log's last event of a job that completes: what it made."""
    if job.job_type == "metrics":
        return event_line("metrics saved")
    counts = watch.counts
    rejected = counts.get("records_rejected") or 0
    text = f"output committed: {counts.get('records_written') or 0:,} records written"
    return event_line(text + (f", {rejected:,} rejected" if rejected else ""))


def _drain(child: ChildProcess, watch: _Watch) -> None:
    while True:
        try:
            event = child.events.get_nowait()
        except queue.Empty:
            return
        if event is not EOF:
            watch.take(event)


def _commit(
    job: Job,
    workdir: WorkDir,
    spec: JobSpec,
    watch: _Watch,
    claim: Claim,
    *,
    tail: str,
    peak: int | None,
) -> None:
    """Staged output → storage or its external target, then COMPLETE; if the job was
    cancelled meanwhile, undo. An external target makes the output visible only once the job
    passed its point of no return (job_publish_decide), after which it cannot be cancelled:
    should COMPLETE not follow (this worker dies, the database fails), the output stays for
    the next attempt to replace, or to remove first what this one appended."""
    asset = job.output_asset()
    storage = asset.file.storage
    saved: list[str] = []
    target = output_target(asset) if asset.is_external else None
    metrics, note = _metrics_field(watch)
    if note:  # the job's log says what was left out of Job.metrics (its output has it all)
        tail = f"{tail.rstrip()}\n{note}\n".lstrip()
    parts = None
    if spec.engine.get("output_parts") and target is not None:  # Spark's folder, published
        parts = staged_parts(Path(spec.output_path).parent / PARTS_FOLDER, root=workdir.root,
                             what="the Spark output")  # fmt: skip
        output = None
    else:
        output = staged_file(spec.output_path, root=workdir.root, what="the output")
    rejects = staged_file(spec.rejects_path, root=workdir.root, what="the rejects file")
    if output is None and parts is None:
        raise JobError("the model process wrote no output file")
    try:
        if target is not None:
            if not claim.holds(job):
                raise _NotCommitted  # cancelled or taken back: do not touch the target at all
            publish = target.publish if parts is None else target.publish_parts
            asset.published = publish(
                **({"staged": output} if parts is None else {"parts": parts}),
                decide=lambda record: job_publish_decide(job=job, record=record, **claim.guard),
                earlier=Job.objects.filter(pk=job.pk).values_list("publishing", flat=True)[0],
            )
        else:
            with open(output, "rb") as staged:
                asset.file.name = storage.save(f"jobs/{job.uuid}/{asset.name}", File(staged))
            saved.append(asset.file.name)
        asset.size = (
            os.path.getsize(output) if parts is None else sum(p.stat().st_size for p in parts)
        )
        _rejects_save(job, asset, rejects, saved)
        with transaction.atomic():
            asset.save(update_fields=["file", "size", "rejects_file", "published", "updated_at"])
            if not job_complete(
                job=job,
                **watch.counts,
                **metrics,
                log=tail + _committed_line(job, watch),
                peak_memory=peak,
                **claim.guard,
            ):
                raise _NotCommitted
    except (_NotCommitted, Declined):
        logger.info("job %s ended before its output was committed; output discarded", job.uuid)
        _delete(storage, saved)
    except Exception:
        _delete(storage, saved)
        raise


def _commit_training(
    job: Job,
    workdir: WorkDir,
    spec: JobSpec,
    watch: _Watch,
    claim: Claim,
    *,
    tail: str,
    peak: int | None,
) -> None:
    """A new snapshot of the model: the parent's source and attachments, the artifacts the
    train function wrote replacing those of the same name; then COMPLETE, in one transaction.
    If the job was cancelled meanwhile, no snapshot."""
    from models_registry.services import snapshot_create

    manifest_file = staged_file(manifest_path(spec), root=workdir.root, what="the manifest")
    if manifest_file is None:
        raise JobError("the training run left no manifest")
    manifest = json.loads(manifest_file.read_text())
    inputs = manifest["training_data"]["inputs"]
    parent = job.snapshot
    folder = workdir.root / OUTPUT_DIR
    if folder.is_symlink() or not folder.is_dir():
        raise JobError(f"{OUTPUT_DIR}/ is not a folder of the work dir")
    artifacts = {}
    for name in manifest["artifacts"]:
        what = f"artifact {name!r}"
        if Path(name).name != name or staged_file(folder / name, root=folder, what=what) is None:
            raise JobError(f"artifact {name!r} is not a plain file in {OUTPUT_DIR}/")
        artifacts[name] = folder / name
    files: list[File] = []
    snapshot = None
    saved: list[str] = []  # the rejects file, when the input schema check left records out
    asset = job.output_asset()
    rejects = staged_file(spec.rejects_path, root=workdir.root, what="the rejects file")
    try:
        _rejects_save(job, asset, rejects, saved)
        # Opened, never read whole: attachment_add streams each file into storage.
        files = [File(open(path, "rb"), name=name) for name, path in artifacts.items()]  # noqa: SIM115
        for attachment in parent.attachments.all():
            if attachment.name not in artifacts:
                files.append(File(attachment.file.open("rb"), name=attachment.name))
        with transaction.atomic():
            try:
                snapshot = snapshot_create(
                    model=parent.model,
                    created_by=job.created_by,
                    source_name=parent.source_name,
                    source=parent.source,
                    attachments=files,
                    notes=f"Trained by job {job.uuid} on {', '.join(inputs)}.",
                    tags=parent.tags,
                    parent=parent,
                    training_job=job,
                    training_data=manifest["training_data"],
                    _smart_tags=parent.smart_tags,
                )
            except ValidationError as exc:
                raise JobError(
                    f"the trained snapshot cannot be made: {' '.join(exc.messages)}"
                ) from None
            if saved:
                asset.save(update_fields=["rejects_file", "updated_at"])
            done = job_complete(
                job=job,
                **watch.counts,
                log=tail + event_line(f"trained snapshot v{snapshot.version} made"),
                peak_memory=peak,
                result_snapshot=snapshot,
                **claim.guard,
            )
            if not done:
                raise _NotCommitted
    except _NotCommitted:
        logger.info("job %s ended before its snapshot was made; artifacts discarded", job.uuid)
        _delete_snapshot_files(snapshot)
        _delete(asset.rejects_file.storage, saved)
    except Exception:
        _delete_snapshot_files(snapshot)
        _delete(asset.rejects_file.storage, saved)
        raise
    finally:
        for f in files:
            f.close()


def _rejects_save(job: Job, asset, rejects: Path | None, saved: list[str]) -> None:
    """The staged rejects file (if any) into the output asset's storage, its name added to
    SAVED so a commit that does not happen deletes it again."""
    if rejects is None:
        return
    with open(rejects, "rb") as staged:
        asset.rejects_file.name = asset.rejects_file.storage.save(
            f"jobs/{job.uuid}/rejects.jsonl", File(staged)
        )
    saved.append(asset.rejects_file.name)


def _delete_snapshot_files(snapshot) -> None:
    """The stored attachment files of a snapshot whose rows were rolled back."""
    if snapshot is None:
        return
    folder = f"snapshots/{snapshot.uuid}"
    if default_storage.exists(folder):
        names = default_storage.listdir(folder)[1]
        _delete(default_storage, [f"{folder}/{name}" for name in names])


def _metrics_field(watch: _Watch) -> tuple[dict, str]:
    """Job.metrics: one dict as it is, several as a list, within METRICS_MAX_BYTES; and what
    was left out to stay within it ("" when nothing)."""
    if watch.metrics is None:
        return {}, ""
    metrics, note = metrics_fit(watch.metrics)
    return {"metrics": metrics[0] if len(metrics) == 1 else metrics}, note


def _delete(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("could not delete %s", name)
