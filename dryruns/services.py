"""Start a dry run and read it back. The checks are job_submit's, so a dry run refused here
would be refused as a job too; the model itself runs only on a worker (jobs/worker/dryrun.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from dryruns.models import DryRun
from jobs.models import JobAsset, JobType, Runtime
from jobs.services import EXTERNAL_KINDS, FUNCTION_FOR_TYPE, InputSpec
from jobs.services.assets import JOB_MAX_INPUTS, asset_input_build
from jobs.services.placement import runtime_choose, runtime_fit_check
from models_registry.models import Snapshot
from models_registry.selectors import snapshot_list

logger = logging.getLogger(__name__)


def _check(*, user, snapshot: Snapshot, job_type: str, params: dict, schemas: dict) -> None:
    if not snapshot_list(user=user).filter(pk=snapshot.pk).exists():
        raise ValidationError("You may not run jobs on this model.")
    if job_type not in JobType.values:
        raise ValidationError(f"Unknown job type {job_type!r}.")
    function = FUNCTION_FOR_TYPE[JobType(job_type)]
    evaluator = job_type == JobType.METRICS and bool(params.get("evaluator"))
    if function not in snapshot.tags_parsed.functions and not evaluator:
        raise ValidationError(
            f"{snapshot} has no {function} function (tag '# modelop.{function}'), "
            f"so it cannot run a {JobType(job_type).label.lower()} job."
        )
    names = set(snapshot.schema_names())
    for side in ("input", "output"):
        name, check = schemas[f"{side}_schema"], schemas[f"check_{side}_schema"]
        if name and name not in names:
            raise ValidationError(f"The {side} schema {name!r} is not an attachment of {snapshot}.")
        if check and not name:
            raise ValidationError(f"Choose an {side} schema to check {side} records against.")


def _input_request(asset: JobAsset) -> dict:
    entry = {"kind": asset.kind, "name": asset.name, "format": asset.format, "role": asset.role}
    if asset.kind == JobAsset.Kind.EMBEDDED:
        entry["data"] = asset.data
    else:
        entry["file"] = asset.file.name
    return entry


@transaction.atomic
def dry_run_start(
    *,
    user,
    snapshot: Snapshot,
    job_type: str = JobType.SCORING,
    inputs: Iterable[InputSpec],
    runtime: Runtime | None = None,
    input_schema: str = "",
    output_schema: str = "",
    check_input_schema: bool = False,
    check_output_schema: bool = False,
    params: dict | None = None,
    **_ignored,  # a job's output and bad-record options: a dry run keeps no output
) -> DryRun:
    """Check the job as job_submit would, then queue a dry run of it on its runtime."""
    params = dict(params or {})
    schemas = {
        "input_schema": input_schema or "",
        "output_schema": output_schema or "",
        "check_input_schema": bool(check_input_schema),
        "check_output_schema": bool(check_output_schema),
    }
    _check(user=user, snapshot=snapshot, job_type=job_type, params=params, schemas=schemas)
    inputs = list(inputs)
    if not inputs:
        raise ValidationError("A dry run needs at least one input.")
    if len(inputs) > JOB_MAX_INPUTS:
        raise ValidationError(f"A job has at most {JOB_MAX_INPUTS} input assets.")
    for spec in inputs:
        if spec.kind in EXTERNAL_KINDS:
            where = spec.location or "a SQL query"
            raise ValidationError(
                f"A dry run samples uploaded files, attachments and pasted data; the input "
                f"{where} is on {JobAsset.Kind(spec.kind).label} and is read only by the job."
            )
    assets = [asset_input_build(spec, user=user, position=i) for i, spec in enumerate(inputs)]
    if runtime is not None:
        runtime_fit_check(runtime=runtime, snapshot=snapshot)
    else:
        runtime, why = runtime_choose(snapshot=snapshot)
        if runtime is None:
            raise ValidationError(f"No runtime can try the model now: {why}")

    DryRun.objects.filter(
        created_at__lt=timezone.now() - timedelta(seconds=settings.DRY_RUN_KEEP_SECONDS)
    ).delete()
    dry_run = DryRun.objects.create(
        created_by=user,
        snapshot=snapshot,
        runtime=runtime,
        job_type=job_type,
        request={
            **schemas,
            "params": params,
            "records": settings.DRY_RUN_RECORDS,
            "inputs": [_input_request(a) for a in assets],
        },
    )
    queue = runtime.queue
    transaction.on_commit(lambda: dry_run_enqueue(dry_run=dry_run, queue=queue))
    return dry_run


def dry_run_enqueue(*, dry_run: DryRun, queue: str) -> None:
    from dryruns.tasks import dry_run_task

    try:
        dry_run_task.apply_async(args=[str(dry_run.uuid)], queue=queue)
    except Exception:  # the broker is away: say so instead of waiting for ever
        logger.exception("could not queue dry run %s on %s", dry_run.uuid, queue)
        DryRun.objects.filter(pk=dry_run.pk, status=DryRun.Status.WAITING).update(
            status=DryRun.Status.ERROR,
            result={"error": "The dry run could not be queued: the broker is not reachable."},
        )


def dry_run_get(*, user, uuid) -> DryRun | None:
    """USER's dry run UUID, or None (another person's dry runs are not shown)."""
    return DryRun.objects.filter(created_by=user, uuid=uuid).select_related("snapshot").first()


def dry_run_expired(dry_run: DryRun) -> bool:
    """A dry run no worker took in time (its runtime's workers are busy or gone)."""
    limit = timedelta(seconds=settings.DRY_RUN_SECONDS * 2 + 30)
    return dry_run.status == DryRun.Status.WAITING and timezone.now() - dry_run.created_at > limit
