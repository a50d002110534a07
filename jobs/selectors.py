from __future__ import annotations

from django.db.models import Q, QuerySet

from jobs.models import Connection, Job


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
