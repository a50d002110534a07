"""Everything that changes a job. Views, tasks, the API, the CLI and MLC processes call these.

Every status change is one conditional UPDATE (…WHERE status IN (…)), so a duplicate
message, a retry or a race between a cancel and a finish can never run a job twice or move a
finished job backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Action, audit_record
from jobs.models import (
    ACTIVE_STATUSES,
    Job,
    JobAsset,
    JobResult,
    JobStatus,
    JobType,
    Runtime,
    Upload,
)
from jobs.services import placement as placement_module
from jobs.services.assets import (
    FUNCTION_FOR_TYPE,
    JOB_MAX_INPUTS,
    InputSpec,
    OutputSpec,
    asset_input_build,
    asset_output_build,
)
from jobs.services.placement import (
    runtime_choose,
    runtime_fit_check,
    runtime_placement_chosen,
    runtime_spark_refusal,
)
from models_registry.models import Snapshot
from models_registry.selectors import snapshot_list

logger = logging.getLogger(__name__)


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
    stop_on_bad_records: bool = False,
    max_rejects: int | None = None,
    max_rejects_percent: float | None = None,
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

    reject_limits_check(max_rejects=max_rejects, max_rejects_percent=max_rejects_percent)

    if runtime is not None:  # chosen by hand: it must carry the tags the snapshot requires
        runtime_fit_check(runtime=runtime, snapshot=snapshot)
        refused = runtime_spark_refusal(runtime=runtime, snapshot=snapshot, job_type=job_type)
        if refused:
            raise ValidationError(
                {"runtime": f"runtime {runtime.name} is a Spark runtime: {refused}."}
            )

    inputs = list(inputs)
    if len(inputs) > JOB_MAX_INPUTS:  # before any of them is checked
        raise ValidationError(f"A job has at most {JOB_MAX_INPUTS} input assets.")
    input_assets = [asset_input_build(spec, user=user, position=i) for i, spec in enumerate(inputs)]
    if not input_assets:
        raise ValidationError("A job needs at least one input asset.")
    output_asset = asset_output_build(output or OutputSpec(), user=user)

    runtime_auto = runtime is None
    if runtime is None:  # None again when no online runtime fits: the job waits, unqueued
        runtime, placement = runtime_choose(snapshot=snapshot, job_type=job_type)
    else:  # the user's choice is kept even when it is offline: its queue keeps the job
        placement = runtime_placement_chosen(runtime=runtime, user=user)

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
        stop_on_bad_records=bool(stop_on_bad_records),
        max_rejects=max_rejects,
        max_rejects_percent=max_rejects_percent,
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
        transaction.on_commit(lambda: placement_module.job_enqueue(job_uuid=job.uuid, queue=queue))
    return job


def reject_limits_check(*, max_rejects: int | None, max_rejects_percent: float | None) -> None:
    """The error threshold of a job: a count of at least 0, a percentage from 0 to 100."""
    if max_rejects is not None and (isinstance(max_rejects, bool) or max_rejects < 0):
        raise ValidationError(
            {"max_rejects": "The error threshold is a number of records, 0 or more."}
        )
    if max_rejects_percent is not None and not 0 <= max_rejects_percent <= 100:
        raise ValidationError(
            {"max_rejects_percent": "The error threshold is a percentage from 0 to 100."}
        )


def reject_limits_parse(text: str) -> tuple[int | None, float | None]:
    """'N' or 'P%' (an error threshold as people write it) → (max_rejects,
    max_rejects_percent); '' → (None, None)."""
    text = (text or "").strip().replace(" ", "")
    if not text:
        return None, None
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            if not 0 <= percent <= 100:
                raise ValueError
            return None, percent
        count = int(text.replace(",", ""))
        if count < 0:
            raise ValueError
        return count, None
    except ValueError:
        raise ValidationError(
            f"{text!r} is not an error threshold: write a number of records (10) or a "
            f"percentage (2.5%)."
        ) from None


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


def job_publish_decide(*, job: Job, attempt: int, worker: str, record: dict) -> bool:
    """The point of no return of a job's external output, called by its target right before
    the step that makes the output visible (a commit, an upload's completion, a rename): True
    while the job is RUNNING under the claim ATTEMPT/WORKER, and from then on it can no longer
    be cancelled, so the target never holds the output of a job that ends CANCELLED. RECORD
    (what a later attempt needs to undo this one, should the worker die before COMPLETE) is
    kept in Job.publishing."""
    return (
        Job.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, attempts=attempt, worker=worker
        ).update(publishing={"attempt": attempt, **record}, updated_at=timezone.now())
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
    """Cancel a job that has not ended and has not begun to publish its output (then it runs
    to the end: see job_publish_decide). A running job's child process is killed by its
    supervisor, which notices the status change within a second."""
    done = (
        Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES)
        .exclude(publishing__has_key="attempt")
        .update(
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            cancelled_by=by,
        )
        == 1
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
            role=asset.role,
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
        stop_on_bad_records=job.stop_on_bad_records,
        max_rejects=job.max_rejects,
        max_rejects_percent=job.max_rejects_percent,
    )
    audit_record(
        action=Action.JOB_RERUN, actor=user, obj=job, details={"new_job": str(new_job.uuid)}
    )
    return new_job
