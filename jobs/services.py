"""Everything that changes a job. Views, tasks, the API, the CLI and MLC processes call these.

Every status change is one conditional UPDATE (…WHERE status IN (…)), so a duplicate
message, a retry or a race between a cancel and a finish can never run a job twice or move a
finished job backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from audit.services import Action, audit_record
from jobs.formats import FORMATS, format_from_name
from jobs.models import (
    ACTIVE_STATUSES,
    Connection,
    Job,
    JobAsset,
    JobResult,
    JobStatus,
    JobType,
    Runtime,
    Upload,
)
from models_registry.models import Snapshot
from models_registry.selectors import snapshot_list
from models_registry.services import attachment_name_clean

logger = logging.getLogger(__name__)

FUNCTION_FOR_TYPE = {
    JobType.SCORING: "score",
    JobType.METRICS: "metrics",
    JobType.TRAINING: "train",
}


@dataclass
class InputSpec:
    kind: str  # JobAsset.Kind
    name: str = ""
    format: str = ""
    upload: Upload | None = None
    data: str = ""
    connection: Connection | None = None  # S3, HDFS, SQL
    location: str = ""  # s3://bucket/key-or-prefix/, hdfs://namenode/path
    query: str = ""  # SQL: a SELECT statement


@dataclass
class OutputSpec:
    kind: str = JobAsset.Kind.EMBEDDED
    name: str = ""
    format: str = ""
    connection: Connection | None = None
    location: str = ""  # s3://bucket/key, hdfs://namenode/path, or a SQL table name
    write_mode: str = JobAsset.WriteMode.REPLACE


EXTERNAL_KINDS = (JobAsset.Kind.S3, JobAsset.Kind.HDFS, JobAsset.Kind.SQL)


def _external_asset(asset: JobAsset, *, user, connection, location, query, direction) -> None:
    """Fill ASSET's connection and location/query after checking them (ValidationError)."""
    from jobs.assets import location_validate
    from jobs.selectors import connection_list

    if connection is not None and not connection_list(user=user).filter(pk=connection.pk).exists():
        raise ValidationError(f"You may not use the connection {connection.name!r}.")
    cleaned = location_validate(
        kind=asset.kind, connection=connection, location=location, query=query,
        direction=direction,
    )  # fmt: skip
    asset.connection = connection
    if asset.kind == JobAsset.Kind.SQL and direction == JobAsset.Direction.INPUT:
        asset.query = cleaned
        asset.name = asset.name or f"SQL on {connection.name}"
    else:
        asset.location = cleaned
        asset.name = asset.name or cleaned


# --- Uploads ------------------------------------------------------------------------------


def upload_create(*, owner, content: File, name: str = "") -> Upload:
    """Store an uploaded input file for OWNER; jobs refer to it later by its uuid."""
    name = PurePosixPath(PureWindowsPath(name or content.name or "").as_posix()).name
    if not name:
        raise ValidationError("The uploaded file has no name.")
    size = content.size if content.size is not None else 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise ValidationError(
            f"{name} is {size:,} bytes; the upload limit is {settings.UPLOAD_MAX_BYTES:,}."
        )
    upload = Upload(owner=owner, name=name, size=size)
    upload.file.save(name, content, save=False)
    upload.save()
    return upload


# --- Placement ----------------------------------------------------------------------------


def runtime_default() -> Runtime:
    """The default runtime; every installation has one (made here if it was deleted)."""
    runtime = Runtime.objects.filter(is_default=True).first()
    if runtime is None:
        runtime, _ = Runtime.objects.get_or_create(
            queue="default", defaults={"name": "default", "is_default": True}
        )
    return runtime


def _tags_text(tags) -> str:
    return ", ".join(str(t) for t in tags)


def runtime_choose(*, snapshot: Snapshot, now=None) -> tuple[Runtime | None, str]:
    """The runtime "let the system choose" picks, and why: an online runtime (a worker beat
    recently) whose tags include all of the snapshot's runtime tags (case does not matter),
    least loaded first (running and queued jobs per slot of its online workers), then by
    name. None, with the reason, when no online runtime has the tags."""
    from django.db.models import Count, Q

    from jobs.selectors import ONLINE, worker_list_live, worker_state

    needed = [str(t) for t in (snapshot.runtime_tags or [])]
    need = {t.casefold() for t in needed}
    slots: dict[int, int] = {}
    runtimes: dict[int, Runtime] = {}
    for worker in worker_list_live(now=now).select_related("runtime"):
        if worker.runtime is None or worker_state(worker, now=now) != ONLINE:
            continue
        if need <= {str(t).casefold() for t in worker.runtime.tags or []}:
            runtimes[worker.runtime_id] = worker.runtime
            slots[worker.runtime_id] = slots.get(worker.runtime_id, 0) + worker.concurrency
    if not runtimes:
        if needed:
            return None, f"no online runtime with tags {_tags_text(needed)}"
        return None, "no online runtime"
    counts = {
        row["runtime"]: row
        for row in Job.objects.filter(runtime__in=list(runtimes))
        .values("runtime")
        .annotate(
            running=Count("id", filter=Q(status=JobStatus.RUNNING)),
            queued=Count("id", filter=Q(status=JobStatus.WAITING)),
        )
    }
    idle = {"running": 0, "queued": 0}

    def load(runtime: Runtime) -> tuple[float, str]:
        row = counts.get(runtime.pk, idle)
        return (row["running"] + row["queued"]) / slots[runtime.pk], runtime.name

    runtime = min(runtimes.values(), key=load)
    row = counts.get(runtime.pk, idle)
    tags = f"tags {_tags_text(runtime.tags)}" if runtime.tags else "no tags"
    busy = f"{row['running']} of {slots[runtime.pk]} slots busy"
    if row["queued"]:
        busy += f", {row['queued']} queued"
    return runtime, f"chosen automatically: {runtime.name} ({tags}; {busy})"


def _chosen_placement(*, runtime: Runtime, user) -> str:
    from jobs.selectors import ONLINE, runtime_health

    placement = f"chosen by {user.get_username()}"
    health = runtime_health(runtime)
    if health != ONLINE:
        placement += (
            f"; warning: runtime {runtime.name} is {health} (no worker beat recently), so the "
            "job waits in its queue until a worker serves it"
        )
    return placement


@transaction.atomic
def job_place(*, job: Job) -> bool:
    """Try again to place a WAITING job that no runtime could take; queue it when one can.
    True when this call placed it. The reason stays in job.placement either way."""
    job.refresh_from_db()
    if job.status != JobStatus.WAITING or job.runtime_id is not None:
        return False
    runtime, placement = runtime_choose(snapshot=job.snapshot)
    unplaced = Job.objects.filter(pk=job.pk, status=JobStatus.WAITING, runtime__isnull=True)
    if runtime is None:
        if placement != job.placement:
            unplaced.update(placement=placement, updated_at=timezone.now())
            job.placement = placement
        return False
    if unplaced.update(runtime=runtime, placement=placement, updated_at=timezone.now()) != 1:
        return False  # placed, cancelled or failed meanwhile
    job.runtime, job.placement = runtime, placement
    queue = runtime.queue
    transaction.on_commit(lambda: job_enqueue(job_uuid=job.uuid, queue=queue))
    return True


# --- Submit -------------------------------------------------------------------------------


def _input_asset(spec: InputSpec, *, user, position: int) -> JobAsset:
    guess = spec.name or (spec.upload.name if spec.upload else "")
    if spec.kind in (JobAsset.Kind.S3, JobAsset.Kind.HDFS):
        fmt = spec.format  # blank: each object's or file's extension decides, when it is read
    elif spec.kind == JobAsset.Kind.SQL:
        fmt = spec.format or "parquet"
    else:
        fmt = spec.format or format_from_name(guess)
    if fmt and fmt not in FORMATS:
        raise ValidationError(f"Unknown input format {fmt!r}; use one of {', '.join(FORMATS)}.")
    asset = JobAsset(
        direction=JobAsset.Direction.INPUT, position=position, kind=spec.kind, format=fmt
    )
    if spec.kind == JobAsset.Kind.UPLOAD:
        if spec.upload is None or spec.upload.owner_id != user.pk:
            raise ValidationError("The uploaded input file was not found; upload it again.")
        asset.name = spec.upload.name
        asset.file.name = spec.upload.file.name
        asset.size = spec.upload.size
    elif spec.kind == JobAsset.Kind.EMBEDDED:
        size = len(spec.data.encode())
        if size > settings.EMBEDDED_INPUT_MAX_BYTES:
            raise ValidationError(
                f"Embedded input is {size:,} bytes; the limit is "
                f"{settings.EMBEDDED_INPUT_MAX_BYTES:,}. Upload it as a file instead."
            )
        asset.name = spec.name or f"embedded.{fmt}"
        asset.data = spec.data
        asset.size = size
    elif spec.kind in EXTERNAL_KINDS:
        asset.name = spec.name
        _external_asset(
            asset, user=user, connection=spec.connection, location=spec.location,
            query=spec.query, direction=JobAsset.Direction.INPUT,
        )  # fmt: skip
    else:
        raise ValidationError(f"Unknown input kind {spec.kind!r}.")
    return asset


def _output_asset(spec: OutputSpec, *, user) -> JobAsset:
    external = spec.kind in EXTERNAL_KINDS
    if spec.kind == JobAsset.Kind.EMBEDDED:
        fmt = spec.format or "jsonl"
        name = spec.name or f"output.{fmt}"
    elif spec.kind == JobAsset.Kind.FILE:
        if not spec.name:
            raise ValidationError("Give the output file a name, such as scores.jsonl.")
        name = attachment_name_clean(spec.name)
        fmt = spec.format or format_from_name(name)
    elif external:
        name = spec.name
        if spec.kind == JobAsset.Kind.SQL:
            fmt = spec.format or "parquet"
        else:
            fmt = spec.format or format_from_name(spec.location, default=None) or ""
            if not fmt:
                raise ValidationError(
                    f"Cannot tell the output format from {spec.location!r}: end the name with "
                    f".jsonl, .json, .csv or .parquet, or choose a format."
                )
    else:
        raise ValidationError(f"Unknown output kind {spec.kind!r}.")
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown output format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if spec.write_mode not in JobAsset.WriteMode.values:
        raise ValidationError(f"Unknown write mode {spec.write_mode!r}; use replace or append.")
    asset = JobAsset(
        direction=JobAsset.Direction.OUTPUT, position=0, kind=spec.kind, name=name, format=fmt,
        write_mode=spec.write_mode,
    )  # fmt: skip
    if external:
        _external_asset(
            asset, user=user, connection=spec.connection, location=spec.location, query="",
            direction=JobAsset.Direction.OUTPUT,
        )  # fmt: skip
    return asset


@transaction.atomic
def job_submit(
    *,
    user,
    snapshot: Snapshot,
    job_type: str = JobType.SCORING,
    inputs: Iterable[InputSpec],
    output: OutputSpec | None = None,
    runtime: Runtime | None = None,
    input_schema: str = "",
    output_schema: str = "",
    check_input_schema: bool = False,
    check_output_schema: bool = False,
    params: dict | None = None,
    idempotency_key: str = "",
) -> Job:
    """Validate and create a job, then queue it once the transaction commits.

    With IDEMPOTENCY_KEY, a second submit by the same user with the same key returns the job
    the first one made, and creates nothing.
    """
    idempotency_key = (idempotency_key or "").strip()
    if len(idempotency_key) > 200:
        raise ValidationError("The idempotency key is longer than 200 characters.")
    if idempotency_key:
        earlier = Job.objects.filter(created_by=user, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    if not snapshot_list(user=user).filter(pk=snapshot.pk).exists():
        raise ValidationError("You may not run jobs on this model.")
    if job_type not in JobType.values:
        raise ValidationError(f"Unknown job type {job_type!r}.")
    function = FUNCTION_FOR_TYPE[JobType(job_type)]
    # The built-in evaluator measures a model that has no metrics function of its own.
    evaluator = job_type == JobType.METRICS and bool((params or {}).get("evaluator"))
    if function not in snapshot.tags_parsed.functions and not evaluator:
        raise ValidationError(
            f"{snapshot} has no {function} function (tag '# modelop.{function}'), "
            f"so it cannot run a {JobType(job_type).label.lower()} job."
        )
    schemas = set(snapshot.schema_names())
    for label, name, check in (
        ("input", input_schema, check_input_schema),
        ("output", output_schema, check_output_schema),
    ):
        if name and name not in schemas:
            raise ValidationError(
                f"The {label} schema {name!r} is not an attachment of {snapshot}."
            )
        if check and not name:
            raise ValidationError(f"Choose an {label} schema to check {label} records against.")

    input_assets = [_input_asset(spec, user=user, position=i) for i, spec in enumerate(inputs)]
    if not input_assets:
        raise ValidationError("A job needs at least one input asset.")
    output_asset = _output_asset(output or OutputSpec(), user=user)

    runtime_auto = runtime is None
    if runtime is None:  # None again when no online runtime fits: the job waits, unqueued
        runtime, placement = runtime_choose(snapshot=snapshot)
    else:  # the user's choice is kept even when it is offline: its queue keeps the job
        placement = _chosen_placement(runtime=runtime, user=user)

    job = Job.objects.create(
        job_type=job_type,
        snapshot=snapshot,
        runtime=runtime,
        runtime_auto=runtime_auto,
        placement=placement,
        created_by=user,
        input_schema=input_schema,
        output_schema=output_schema,
        check_input_schema=check_input_schema,
        check_output_schema=check_output_schema,
        params=params or {},
        bytes_total=sum(a.size or 0 for a in input_assets) or None,
        idempotency_key=idempotency_key,
    )
    for asset in [*input_assets, output_asset]:
        asset.job = job
        asset.save()

    _transition(job.pk, (JobStatus.CREATED,), JobStatus.WAITING)
    job.status = JobStatus.WAITING
    audit_record(
        action=Action.JOB_CREATED, actor=user, obj=job,
        details={"snapshot": str(snapshot.uuid), "job_type": job_type,
                 **({"rerun_of": params["rerun_of"]} if "rerun_of" in (params or {}) else {})},
    )  # fmt: skip
    if runtime is not None:  # else job_place queues it once a fitting runtime is online
        queue = runtime.queue
        transaction.on_commit(lambda: job_enqueue(job_uuid=job.uuid, queue=queue))
    return job


def job_enqueue(*, job_uuid, queue: str) -> bool:
    """Send the job's id to its runtime's queue. The database stays the source of truth: a job
    whose message is lost stays WAITING and can be sent again."""
    from jobs.tasks import run_job

    try:
        run_job.apply_async(args=[str(job_uuid)], queue=queue)
    except Exception:  # the broker is down: the job waits, it is not lost
        logger.exception("could not queue job %s on %s", job_uuid, queue)
        return False
    Job.objects.filter(uuid=job_uuid).update(enqueued_at=timezone.now())
    return True


# --- State changes --------------------------------------------------------------------------


def _transition(job_pk: int, from_statuses: Iterable[str], to: str, **fields) -> bool:
    """Move one job to TO if it is in FROM_STATUSES; True when this call moved it."""
    changed = Job.objects.filter(pk=job_pk, status__in=list(from_statuses)).update(
        status=to, updated_at=timezone.now(), **fields
    )
    return changed == 1


def job_claim(*, job: Job, worker: str) -> bool:
    """WAITING → RUNNING for exactly one claimer."""
    from django.db.models import F

    return _transition(
        job.pk,
        (JobStatus.WAITING,),
        JobStatus.RUNNING,
        started_at=timezone.now(),
        worker=worker,
        attempts=F("attempts") + 1,
    )


def _claim_guard(attempt: int | None, worker: str | None) -> dict:
    """Fencing: with the claim's ATTEMPT and WORKER, a change applies only while the job is
    still RUNNING under that claim, so a supervisor whose job was taken back (its worker was
    thought lost) can neither save progress nor finish it."""
    guard = {}
    if attempt is not None:
        guard["attempts"] = attempt
    if worker is not None:
        guard["worker"] = worker
    return guard


def job_progress_save(
    *, job: Job, attempt: int | None = None, worker: str | None = None, **counts
) -> bool:
    """Save progress counters; False when the job is no longer RUNNING (e.g. cancelled), or
    no longer under the claim ATTEMPT/WORKER."""
    counts["progress_at"] = timezone.now()
    return (
        Job.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, **_claim_guard(attempt, worker)
        ).update(updated_at=timezone.now(), **counts)
        == 1
    )


def job_complete(
    *, job: Job, attempt: int | None = None, worker: str | None = None, **fields
) -> bool:
    fields.setdefault(
        "result", JobResult.FAILURE if fields.get("records_rejected") else JobResult.SUCCESS
    )
    return (
        Job.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, **_claim_guard(attempt, worker)
        ).update(
            status=JobStatus.COMPLETE,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            **fields,
        )
        == 1
    )


def job_fail(
    *, job: Job, message: str, attempt: int | None = None, worker: str | None = None, **fields
) -> bool:
    """→ ERROR. With a claim's ATTEMPT/WORKER (a supervisor), only a job still RUNNING under
    that claim; without, any job that has not ended."""
    guard = _claim_guard(attempt, worker)
    statuses = (
        [JobStatus.RUNNING] if guard else [JobStatus.RUNNING, JobStatus.WAITING, JobStatus.CREATED]
    )
    return (
        Job.objects.filter(pk=job.pk, status__in=statuses, **guard).update(
            status=JobStatus.ERROR,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            error_message=message,
            **fields,
        )
        == 1
    )


def job_cancel(*, job: Job, by) -> bool:
    """Cancel a job that has not ended. A running job's child process is killed by its
    supervisor, which notices the status change within a second."""
    done = _transition(
        job.pk, ACTIVE_STATUSES, JobStatus.CANCELLED, finished_at=timezone.now(), cancelled_by=by
    )
    if done:
        job.refresh_from_db()
        audit_record(action=Action.JOB_CANCELLED, actor=by, obj=job)
    return done


@transaction.atomic
def job_rerun(*, job: Job, user) -> Job:
    """A new job with the same snapshot, type, inputs, output, schemas and parameters."""
    inputs = []
    for asset in job.input_assets():
        spec = InputSpec(
            kind=asset.kind, name=asset.name, format=asset.format, data=asset.data,
            connection=asset.connection, location=asset.location, query=asset.query,
        )  # fmt: skip
        if asset.kind == JobAsset.Kind.UPLOAD:  # the same stored file, now in USER's name
            spec.upload = Upload.objects.create(
                owner=user, name=asset.name, file=asset.file.name, size=asset.size or 0
            )
        inputs.append(spec)
    out = job.output_asset()
    output = None
    if out is not None:
        output = OutputSpec(
            kind=out.kind, name=out.name, format=out.format, connection=out.connection,
            location=out.location, write_mode=out.write_mode,
        )  # fmt: skip
    new_job = job_submit(
        user=user,
        snapshot=job.snapshot,
        job_type=job.job_type,
        inputs=inputs,
        output=output,
        runtime=None if job.runtime_auto else job.runtime,
        input_schema=job.input_schema,
        output_schema=job.output_schema,
        check_input_schema=job.check_input_schema,
        check_output_schema=job.check_output_schema,
        params={**job.params, "rerun_of": str(job.uuid)},
    )
    audit_record(
        action=Action.JOB_RERUN, actor=user, obj=job, details={"new_job": str(new_job.uuid)}
    )
    return new_job
