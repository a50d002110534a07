"""The scoring diff page: this scoring job (A, e.g. the champion) against another on the same
input (B, the challenger); the numbers come from jobs.scoring_diff."""

from __future__ import annotations

import logging
import math
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from commandcenter.lib import numbers
from jobs import charts
from jobs.models import Job, JobStatus, JobType
from jobs.scoring_diff import SAMPLE_LIMIT, SEGMENTS_SHOWN, DiffError, input_signature, scoring_diff
from jobs.selectors import job_list
from jobs.views._common import get_job_for_user
from jobs.views.compare import job_label

logger = logging.getLogger(__name__)

CANDIDATES = 50


def candidates(job: Job, user) -> list[Job]:
    """Other complete scoring jobs the user may see, those on the same input first."""
    found = list(
        job_list(user=user)
        .filter(job_type=JobType.SCORING, status=JobStatus.COMPLETE)
        .exclude(pk=job.pk)
        .select_related("snapshot__model")
        .defer("metrics", "log")[: CANDIDATES * 4]
    )
    mine = input_signature(job)
    for other in found:
        other.same_input = input_signature(other) == mine
    same = [other for other in found if other.same_input]
    return (same + [other for other in found if not other.same_input])[:CANDIDATES]


def _threshold(value: str) -> float:
    try:
        found = float(value)
    except ValueError:
        return 0.5
    return found if math.isfinite(found) else 0.5


def _chart(diff, labels: tuple[str, str]):
    histogram = diff.histogram
    if not histogram:
        return None
    if "edges" in histogram:
        edges = histogram["edges"]
        categories = [numbers.number(float(edges[i])) for i in range(len(edges) - 1)]
    else:
        categories = [str(label) for label in histogram["labels"]]
    return charts.bar_chart(
        categories,
        [(labels[0], histogram["a"]), (labels[1], histogram["b"])],
        uid="diff-hist",
        title=f"Distribution of {diff.score}",
        x_label=diff.score + (" (bin from)" if "edges" in histogram else ""),
        y_label="Records",
    )


@login_required
@require_GET
def job_scoring_diff_view(request: HttpRequest, job_uuid: UUID) -> HttpResponse:
    job = get_job_for_user(request, job_uuid)
    context: dict = {"job": job, "sample_limit": SAMPLE_LIMIT, "segments_shown": SEGMENTS_SHOWN}
    if job.job_type != JobType.SCORING:
        context["error"] = "A scoring diff compares scoring jobs; this is a " + (
            f"{job.get_job_type_display().lower()} job."
        )
        return render(request, "jobs/scoring_diff.html", context, status=200)
    context["candidates"] = candidates(job, request.user)
    params = {k: request.GET.get(k, "").strip()[:200] for k in ("other", "score", "key", "segment")}
    context["params"] = params
    if params["other"]:
        try:
            other = get_job_for_user(request, UUID(params["other"]))
        except ValueError:
            context["error"] = f"{params['other']!r} is not a job id."
            return render(request, "jobs/scoring_diff.html", context)
        context["other"] = other
        labels = (f"A: {job_label(job)}", f"B: {job_label(other)}")
        context["labels"] = labels
        try:
            diff = scoring_diff(
                a=job, b=other, score=params["score"], key=params["key"],
                segment=params["segment"], threshold=_threshold(request.GET.get("threshold", "0.5")),
            )  # fmt: skip
        except DiffError as exc:
            context["error"] = f"These jobs cannot be compared: {exc}."
        except Exception:  # outputs are what model code wrote: never a 500 for them
            logger.exception("scoring diff of jobs %s and %s", job.uuid, other.uuid)
            context["error"] = (
                "These jobs could not be compared: reading their outputs failed unexpectedly "
                "(the server log has the details)."
            )
        else:
            context["diff"] = diff
            context["agreement_percent"] = numbers.number(100 * diff.agreement)
            context["chart"] = _chart(diff, labels)
    return render(request, "jobs/scoring_diff.html", context)
