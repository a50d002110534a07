from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from jobs.models import Connection, Job, Runtime, Worker

ONLINE, STALE, OFFLINE = "online", "stale", "offline"


def job_list(*, user, filters: dict | None = None) -> QuerySet[Job]:
    """Jobs USER may see (their teams' models; staff: all), newest first."""
    qs = Job.objects.select_related("snapshot", "snapshot__model", "runtime", "created_by")
    if not user.is_staff:
        qs = qs.filter(snapshot__model__team__in=user.groups.all())
    filters = filters or {}
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if job_type := filters.get("job_type"):
        qs = qs.filter(job_type=job_type)
    if model := filters.get("model"):
        qs = qs.filter(snapshot__model__uuid=model)
    return qs.order_by("-created_at", "-id")


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
