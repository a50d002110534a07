"""Runtime placement: which runtime takes a job, and sending it to that runtime's queue."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from jobs.models import (
    Job,
    JobStatus,
    Runtime,
)
from models_registry.models import Snapshot

logger = logging.getLogger(__name__)


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


def runtime_spark_refusal(*, runtime: Runtime, snapshot: Snapshot, job_type: str) -> str | None:
    """Why RUNTIME, a Spark runtime, cannot run this job (recordsets mode, a pandas training
    function, ...), for a person; None when it can or the runtime is not Spark."""
    if runtime.kind != Runtime.Kind.SPARK:
        return None
    from jobs.spark.contract import spark_refusal

    tags = snapshot.tags_parsed
    return spark_refusal(
        source=snapshot.source, functions=tags.functions, job_type=job_type,
        recordsets=tags.recordsets_in,
    )  # fmt: skip


def runtime_choose(
    *, snapshot: Snapshot, now=None, job_type: str = "scoring"
) -> tuple[Runtime | None, str]:
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
        if runtime_spark_refusal(runtime=worker.runtime, snapshot=snapshot, job_type=job_type):
            continue  # a Spark runtime that cannot run this model is never chosen for it
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


def runtime_tags_missing(*, runtime: Runtime, snapshot: Snapshot) -> list[str]:
    """The snapshot's runtime tags that RUNTIME lacks (case does not matter), as the snapshot
    spells them."""
    has = {str(t).casefold() for t in runtime.tags or []}
    return [str(t) for t in snapshot.runtime_tags or [] if str(t).casefold() not in has]


def runtime_fit_check(*, runtime: Runtime, snapshot: Snapshot) -> None:
    """ValidationError (on the field "runtime") when a runtime chosen by hand lacks a tag the
    snapshot requires: its workers are not meant to run this model."""
    missing = runtime_tags_missing(runtime=runtime, snapshot=snapshot)
    if missing:
        tags = "tags" if len(missing) > 1 else "tag"
        raise ValidationError(
            {
                "runtime": f"runtime {runtime.name} lacks the {tags} {_tags_text(missing)} "
                f"that snapshot v{snapshot.version} requires; choose a runtime with "
                f"{'them' if len(missing) > 1 else 'it'}, or let the system choose."
            }
        )


def runtime_placement_chosen(*, runtime: Runtime, user) -> str:
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
    runtime, placement = runtime_choose(snapshot=job.snapshot, job_type=job.job_type)
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
