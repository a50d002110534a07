from __future__ import annotations

from django.db.models import QuerySet

from processes.models import Process, ProcessRun, RunStatus


def process_list(*, user) -> QuerySet[Process]:
    """Processes USER may see: their teams' (staff: all), as models are seen."""
    qs = Process.objects.select_related("team", "owner")
    return qs if user.is_staff else qs.filter(team__in=user.groups.all())


def run_list(*, user) -> QuerySet[ProcessRun]:
    return ProcessRun.objects.filter(process__in=process_list(user=user)).select_related("process")


def runs_waiting_approval(*, user) -> QuerySet[ProcessRun]:
    return run_list(user=user).filter(status=RunStatus.WAITING_APPROVAL)
