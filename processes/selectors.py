from __future__ import annotations

from django.db.models import QuerySet

from processes.models import Process, ProcessRun, RunStatus


def process_list(*, user) -> QuerySet[Process]:
    """Processes USER may see: their teams' (staff: all), as models are seen."""
    qs = Process.objects.select_related("team", "owner")
    return qs if user.is_staff else qs.filter(team__in=user.groups.all())


def run_list(*, user) -> QuerySet[ProcessRun]:
    """Runs of the processes USER may see: process_list's rule, as a join rather than a
    subquery of a subquery, which costs a third more to build (every page asks for the runs
    waiting for an approval)."""
    qs = ProcessRun.objects.select_related("process")
    return qs if user.is_staff else qs.filter(process__team__user=user)


def runs_waiting_approval(*, user) -> QuerySet[ProcessRun]:
    return run_list(user=user).filter(status=RunStatus.WAITING_APPROVAL)
