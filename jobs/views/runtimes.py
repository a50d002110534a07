"""Runtimes: every logged-in user sees them (health, workers, limits, current jobs);
staff change tags and limits in the admin."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from jobs.models import Runtime
from jobs.selectors import (
    job_list,
    job_list_unplaced,
    runtime_overview,
    worker_list_unattached,
)
from jobs.views._common import wants_partial

RECENT_JOBS = 20


@login_required
@require_GET
@vary_on_headers("HX-Request")
def runtime_list_view(request: HttpRequest) -> HttpResponse:
    context = {
        "overview": runtime_overview(user=request.user),
        "unplaced": job_list_unplaced(user=request.user)[:50],
        "unattached": worker_list_unattached(),
    }
    template = (
        "jobs/runtime_list.html#runtimes" if wants_partial(request) else "jobs/runtime_list.html"
    )
    return render(request, template, context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def runtime_detail_view(request: HttpRequest, runtime_uuid: UUID) -> HttpResponse:
    runtime = get_object_or_404(Runtime, uuid=runtime_uuid)
    (entry,) = runtime_overview(user=request.user, runtimes=Runtime.objects.filter(pk=runtime.pk))
    recent = job_list(user=request.user).filter(runtime=runtime)[:RECENT_JOBS]
    context = {"entry": entry, "runtime": runtime, "recent": recent}
    template = (
        "jobs/runtime_detail.html#runtime" if wants_partial(request) else "jobs/runtime_detail.html"
    )
    return render(request, template, context)
