from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import (
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Now
from django.db.models.lookups import Exact
from django.utils import timezone

from jobs.models import Connection, Job, JobAsset, JobStatus, Runtime, Worker
from models_registry.models import Snapshot

logger = logging.getLogger(__name__)

DOWNLOAD_LINK_SECONDS = 3600
ONLINE, STALE, OFFLINE = "online", "stale", "offline"


def _of_teams(user) -> Exists:
    """Whether a job's snapshot is of a model of USER's teams (USER: a user, or an expression
    of a user's id)."""
    return Exists(Snapshot.objects.filter(pk=OuterRef("snapshot_id"), model__team__user=user))


def job_visible(*, user_id, is_staff) -> Q:
    """job_list's rule as one condition on jobs, for a user given as expressions: in a
    subquery of a session's row, OuterRef(OuterRef("user_id")) and
    OuterRef("user__is_staff") (commandcenter/lib/sessions.py ReadAlong)."""
    return Q(Exact(is_staff, True)) | Q(_of_teams(user_id))


def job_list(*, user, filters: dict | None = None, counting: bool = False) -> QuerySet[Job]:
    """Jobs USER may see (their teams' models; staff: all), newest first. COUNTING: the same
    jobs, asked for in the way that counts them fastest (in no order)."""
    qs = Job.objects.select_related("snapshot", "snapshot__model", "runtime", "created_by")
    if not user.is_staff and counting:
        # A count reads every job it counts in no order: the team's snapshots once (a list)
        # and jobs through their snapshot index; the EXISTS below, run for each job, took 14
        # times as long for 1,000 jobs on SQLite (6.3 ms).
        qs = qs.filter(snapshot__in=Snapshot.objects.filter(model__team__user=user))
    elif not user.is_staff:
        # EXISTS rather than a join on the team: the database then reads jobs in the order of
        # the job_list_* indexes and stops at a page's end, instead of sorting every job of
        # the team's snapshots first (SQLite did, 170 ms for 100,000 jobs). The membership is a
        # join in it, not a subquery of the user's groups: the same plan, built in 60 % of the
        # time (this runs for every poll).
        qs = qs.filter(_of_teams(user))
    filters = filters or {}
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if job_type := filters.get("job_type"):
        qs = qs.filter(job_type=job_type)
    if model := filters.get("model"):
        qs = qs.filter(snapshot__model__uuid=model)
    if search := (filters.get("q") or "").replace("\x00", "").strip():
        named = JobAsset.objects.filter(
            Q(name__icontains=search) | Q(location__icontains=search),
            job=OuterRef("pk"),
            direction=JobAsset.Direction.INPUT,
        )
        qs = qs.filter(
            Q(snapshot__model__name__icontains=search)
            | Q(created_by__username__icontains=search)
            | Exists(named)
        )
    sort = filters.get("sort") or ""
    if sort.endswith("duration"):
        qs = qs.annotate(
            duration=ExpressionWrapper(
                Coalesce(F("finished_at"), Now()) - F("started_at"), output_field=DurationField()
            )
        )
    return qs.order_by(*JOB_SORTS.get(sort, JOB_SORTS["-created"]))


# The list's sort orders; "duration" is from start to finish (or to now while running).
JOB_SORTS: dict[str, tuple] = {
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "-duration": (F("duration").desc(nulls_last=True), "-id"),
    "duration": (F("duration").asc(nulls_last=True), "-id"),
    "status": ("status", "-created_at", "-id"),
}
# The sorts whose pages are keyset pages (commandcenter.lib.keyset), on the job_list_keyset and
# job_list_status indexes; a duration is worked out per row, so its pages are numbered.
JOB_KEYSETS: dict[str, tuple[tuple[str, bool], ...]] = {
    "-created": (("created_at", True), ("id", True)),
    "created": (("created_at", False), ("id", False)),
    "status": (("status", False), ("created_at", True), ("id", True)),
}


# What a row of the jobs list reads: only these are loaded (a snapshot's source, a job's log,
# metrics and JSON fields and a runtime's encrypted configuration would be read and decoded
# for every row otherwise: 60 % of the page's time).
JOB_ROW_FIELDS = (
    "uuid", "job_type", "status", "result", "created_at", "updated_at", "started_at",
    "finished_at", "records_read", "records_written", "records_rejected", "bytes_read",
    "bytes_total", "engine_progress", "error_message", "snapshot__uuid", "snapshot__version",
    "snapshot__model__uuid", "snapshot__model__name", "created_by__username",
    "result_snapshot__uuid", "result_snapshot__version", "runtime__name",
)  # fmt: skip


def job_list_rows(qs: QuerySet[Job]) -> QuerySet[Job]:
    """QS with what a row of the jobs list shows, in a fixed number of queries: the inputs'
    names (one prefetch), the new snapshot, a metrics job's AUC and accuracy (read from the
    JSON in the database; the metrics themselves, like the log, can be megabytes)."""
    inputs = JobAsset.objects.filter(direction=JobAsset.Direction.INPUT).only(
        "id", "job_id", "kind", "name", "location", "position"
    )
    return (
        qs.select_related("result_snapshot")
        .only(*JOB_ROW_FIELDS)
        .annotate(
            metric_auc=KT("metrics__auc"),
            metric_accuracy=KT("metrics__accuracy"),
        )
        .prefetch_related(Prefetch("assets", queryset=inputs, to_attr="list_inputs"))
    )


def connection_list(*, user, kind: str | None = None) -> QuerySet[Connection]:
    """Connections USER may use: those open to every team, or to one of USER's teams."""
    qs = Connection.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    if user.is_staff:
        return qs
    return qs.filter(Q(teams__isnull=True) | Q(teams__in=user.groups.all())).distinct()


def worker_state(worker: Worker, *, now=None) -> str:
    """online: beat within WORKER_STALE_SECONDS; stale: until WORKER_OFFLINE_SECONDS; else
    offline (and offline at once when it said it stopped)."""
    if worker.stopped_at or worker.last_seen_at is None:
        return OFFLINE
    age = ((now or timezone.now()) - worker.last_seen_at).total_seconds()
    if age <= settings.WORKER_STALE_SECONDS:
        return ONLINE
    if age <= settings.WORKER_OFFLINE_SECONDS:
        return STALE
    return OFFLINE


def worker_list_live(*, now=None) -> QuerySet[Worker]:
    """Workers not known to be offline (beat within WORKER_OFFLINE_SECONDS, not stopped)."""
    since = (now or timezone.now()) - timedelta(seconds=settings.WORKER_OFFLINE_SECONDS)
    return Worker.objects.filter(stopped_at__isnull=True, last_seen_at__gte=since)


def runtime_health(runtime: Runtime, *, now=None) -> str:
    """A runtime is online when one of its workers is, else stale when one is, else offline."""
    states = {worker_state(w, now=now) for w in runtime.workers.all()}
    for state in (ONLINE, STALE):
        if state in states:
            return state
    return OFFLINE


def runtime_overview(*, user, now=None, runtimes: QuerySet[Runtime] | None = None) -> list[dict]:
    """Each runtime with its health, workers (newest beat first, with their state), slots of
    its online workers, and the running and queued jobs USER may see (counts are of all)."""
    from django.db.models import Count

    now = now or timezone.now()
    runtimes = list(
        (runtimes if runtimes is not None else Runtime.objects.all()).prefetch_related("workers")
    )
    active = (JobStatus.RUNNING, JobStatus.WAITING)
    counts: dict[tuple[int, str], int] = {
        (row["runtime"], row["status"]): row["n"]
        for row in Job.objects.filter(runtime__in=runtimes, status__in=active)
        .values("runtime", "status")
        .annotate(n=Count("id"))
    }
    visible = job_list(user=user).filter(runtime__in=runtimes, status__in=active)
    jobs_by_runtime: dict[int, list[Job]] = {}
    for job in visible.order_by("status", "created_at"):
        jobs_by_runtime.setdefault(job.runtime_id, []).append(job)
    overview = []
    for runtime in runtimes:
        workers = sorted(
            runtime.workers.all(),
            key=lambda w: (
                w.last_seen_at is None,
                -(w.last_seen_at.timestamp() if w.last_seen_at else 0),
            ),
        )
        rows = [{"worker": w, "state": worker_state(w, now=now)} for w in workers]
        overview.append(
            {
                "runtime": runtime,
                "health": runtime_health(runtime, now=now),
                "workers": rows,
                "slots": sum(r["worker"].concurrency for r in rows if r["state"] == ONLINE),
                "running": counts.get((runtime.pk, JobStatus.RUNNING), 0),
                "queued": counts.get((runtime.pk, JobStatus.WAITING), 0),
                "jobs": jobs_by_runtime.get(runtime.pk, []),
            }
        )
    return overview


def job_list_unplaced(*, user) -> QuerySet[Job]:
    """WAITING jobs USER may see that no runtime could take yet (job.placement says why)."""
    return job_list(user=user).filter(status=JobStatus.WAITING, runtime__isnull=True)


def worker_list_unattached() -> QuerySet[Worker]:
    """Workers serving a queue no runtime has (recently seen ones)."""
    return worker_list_live().filter(runtime__isnull=True)


def output_download_link(asset) -> str:
    """A time-limited link to an S3 output, or "" when none can be made (the location is then
    shown alone)."""
    if asset.kind != "s3" or str((asset.published or {}).get("location", "")).endswith("/"):
        return ""  # not S3, or a folder of parts (the job page lists them)
    try:
        from jobs.assets.s3 import presigned_url

        return presigned_url(asset, expires=DOWNLOAD_LINK_SECONDS)
    except Exception:  # a missing module, bad credentials, a location it cannot parse
        logger.warning("no download link for output %s", asset.uuid, exc_info=True)
        return ""
