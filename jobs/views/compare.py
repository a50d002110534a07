"""Several metrics jobs side by side: their settings, every numeric metric, and each plot
family (ROC and PR curves overlaid, confusion matrices next to each other, fairness, feature
importance), each job named by its snapshot version and job id so the legends tell them apart.

Like jobs.views.metrics, every metrics dict is read defensively and every part is bounded.
"""

from __future__ import annotations

import heapq
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from commandcenter.lib import numbers
from jobs import charts, plots
from jobs.models import Job
from jobs.views._common import get_job_for_user
from jobs.views.metrics import (
    HEADLINE,
    HEADLINE_LABELS,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    _confusion,
    _curve,
    _is_number,
    average_precision,
    fmt,
    metric_dicts,
    prevalence,
)

COMPARE_MAX_JOBS = len(plots.PALETTE)  # one colour each
COMPARE_EXTRA_ROWS = 100  # other numeric metrics compared, beyond the headline ones
FAIRNESS_ROWS = 100
# Keys a metrics function yields that describe how it was computed, not how well the model did:
# listed as settings, never compared as metrics.
SETTING_KEYS = {
    "positive_label": "Positive label",
    "threshold": "Threshold",
    "labels": "Labels",
    "problem": "Problem",
    "label_column": "Label column",
    "score_column": "Score column",
    "probability_column": "Probability column",
    "random_state": "Random state",
    "seed": "Seed",
    "n_repeats": "Repeats",
}


def _jobs_from(request: HttpRequest) -> list[Job]:
    """The jobs named by ?job= (any number, in order), or the older ?a= and ?b=."""
    values = [*request.GET.getlist("a"), *request.GET.getlist("b"), *request.GET.getlist("job")]
    jobs: list[Job] = []
    for value in values:
        try:
            job_uuid = UUID(value)
        except ValueError as exc:
            raise Http404(f"{value!r} is not a job id.") from exc
        if all(job.uuid != job_uuid for job in jobs):
            jobs.append(get_job_for_user(request, job_uuid))
    if len(jobs) < 2:
        raise Http404("Name at least two jobs to compare (?job=…&job=…).")
    return jobs[:COMPARE_MAX_JOBS]


def job_label(job: Job) -> str:
    """How a legend names a job: its snapshot version and id (the model too)."""
    return f"{job.snapshot.model.name} v{job.snapshot.version} · {str(job.uuid)[:8]}"


def _settings_rows(sets: list[dict], jobs: list[Job]) -> list[dict]:
    rows = []
    for key, label in SETTING_KEYS.items():
        values = [m.get(key) for m in sets]
        if any(v is not None for v in values):
            rows.append({"label": label, "key": key, "values": [_setting(v) for v in values]})
    params = sorted({k for job in jobs for k in (job.params or {})})[:COMPARE_EXTRA_ROWS]
    for key in params:
        rows.append(
            {
                "label": f"Job parameter {key}",
                "key": key,
                "values": [_setting((job.params or {}).get(key)) for job in jobs],
            }
        )
    return rows


def _setting(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return plots.shorten(", ".join(str(v) for v in value[:20]), 100)
    return plots.shorten(fmt(value), 100)


def _metric_rows(sets: list[dict]) -> list[dict]:
    """One row per metric; each job's value and, after the first, its difference from the
    first job's (green when better, red when worse, for metrics with a known direction)."""
    keys = [k for k, _ in HEADLINE if any(_is_number(m.get(k)) for m in sets)]
    others = {
        k
        for m in sets
        for k, v in m.items()
        if _is_number(v) and k not in HEADLINE_LABELS and k not in SETTING_KEYS
    }
    rows = []
    for key in keys + heapq.nsmallest(COMPARE_EXTRA_ROWS, others):
        first = sets[0].get(key)
        cells = []
        for index, m in enumerate(sets):
            value = m.get(key)
            diff, verdict = None, ""
            if index and _is_number(value) and _is_number(first):
                diff = value - first
                if diff and key in HIGHER_IS_BETTER:
                    verdict = "better" if diff > 0 else "worse"
                elif diff and key in LOWER_IS_BETTER:
                    verdict = "better" if diff < 0 else "worse"
            cells.append(
                {
                    "value": fmt(value) if _is_number(value) else "—",
                    "diff": "" if diff is None else numbers.signed(diff),
                    "verdict": verdict,
                }
            )
        rows.append({"key": key, "label": HEADLINE_LABELS.get(key, key), "cells": cells})
    return rows


def _curves(sets: list[dict], labels: list[str]) -> dict:
    found: dict = {}
    roc = [
        (label, _curve(m.get("roc_curve"), "fpr", "tpr"))
        for m, label in zip(sets, labels, strict=True)
    ]
    roc = [
        (f"{label} (AUC {fmt(m['auc'])})" if _is_number(m.get("auc")) else label, curve)
        for (label, curve), m in zip(roc, sets, strict=True)
        if curve
    ]
    if roc:
        found["roc"] = plots.line_plot(
            roc, uid="cmp-roc", title="ROC curves", x_label="False positive rate",
            y_label="True positive rate", diagonal=True,
        )  # fmt: skip
    pr = []
    for m, label in zip(sets, labels, strict=True):
        full = _curve(m.get("precision_recall_curve"), "recall", "precision", keep=True)
        if full:
            ap = average_precision(m, full)
            name = f"{label} (AP {fmt(ap)})" if ap is not None else label
            pr.append((name, plots.downsample(full)))
    if pr:
        bases = {round(b, 6) for b in (prevalence(m) for m in sets) if b is not None}
        base = next(iter(bases)) if len(bases) == 1 else None  # one line when all agree
        found["pr"] = plots.line_plot(
            pr, uid="cmp-pr", title="Precision–recall curves", x_label="Recall",
            y_label="Precision", baseline=base,
            baseline_label=f"prevalence {fmt(base)}" if base is not None else "",
        )  # fmt: skip
        found["pr_prevalences"] = len(bases) > 1
    return found


def _confusions(sets: list[dict], labels: list[str]) -> list[dict]:
    found = []
    for index, (m, label) in enumerate(zip(sets, labels, strict=True)):
        svg, note = _confusion(m, f"cmp-cm{index}")
        if svg or note:
            found.append({"label": label, "svg": svg, "note": note})
    return found


def _fairness(sets: list[dict]) -> tuple[list[dict], int]:
    """Disparate impact and parity difference of each (attribute, group), per job."""
    by_group: dict[tuple[str, str], list] = {}
    for index, m in enumerate(sets):
        bias = m.get("bias")
        for item in bias if isinstance(bias, list) else []:
            if not isinstance(item, dict) or "test_name" in item:
                continue
            key = (str(item.get("attribute")), str(item.get("group")))
            cells = by_group.setdefault(key, [None] * len(sets))
            cells[index] = (
                item.get("disparate_impact"),
                item.get("statistical_parity_difference"),
            )
    rows = []
    for (attribute, group), cells in list(by_group.items())[:FAIRNESS_ROWS]:
        rows.append(
            {
                "attribute": plots.shorten(attribute, 100),
                "group": plots.shorten(group, 100),
                "cells": [
                    (
                        fmt(c[0]) if c and _is_number(c[0]) else "—",
                        fmt(c[1]) if c and _is_number(c[1]) else "—",
                        bool(c and _is_number(c[0]) and not 0.8 <= c[0] <= 1.25),
                    )
                    for c in cells
                ],  # fmt: skip
            }
        )
    return rows, len(by_group)


def _importances(sets: list[dict], labels: list[str]) -> object:
    """Grouped bars: the features most important to any job, one bar per job."""
    values: list[dict[str, float]] = []
    for m in sets:
        found = m.get("interpretability")
        items = found.get("feature_importance") if isinstance(found, dict) else None
        values.append(
            {
                str(item.get("feature", "?")): float(item["importance"])
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict) and _is_number(item.get("importance"))
            }
        )
    if not any(values):
        return None
    peak: dict[str, float] = {}
    for job_values in values:
        for feature, value in job_values.items():
            peak[feature] = max(peak.get(feature, value), value)
    features = heapq.nlargest(20, peak, key=peak.get)
    series = [
        (label, [v.get(f) for f in features]) for label, v in zip(labels, values, strict=True)
    ]
    return charts.bar_chart(
        features, series, uid="cmp-fi", title="Feature importance", horizontal=True,
        y_label="Importance",
    )  # fmt: skip


@login_required
@require_GET
def job_compare_view(request: HttpRequest) -> HttpResponse:
    jobs = _jobs_from(request)
    labels = [job_label(job) for job in jobs]
    missing = [job for job in jobs if not metric_dicts(job.metrics)]
    context: dict = {
        "jobs": list(zip(jobs, labels, strict=True)),
        "missing": missing,
        "several": [],
        "query": "&".join(f"job={job.uuid}" for job in jobs),
        "reversed_query": "&".join(f"job={job.uuid}" for job in reversed(jobs)),
        "more_than_max": COMPARE_MAX_JOBS,
    }
    with numbers.digits(numbers.digits_from(request.GET.get("digits", ""))):
        if not missing:
            sets = [metric_dicts(job.metrics)[0] for job in jobs]
            context["several"] = [job for job in jobs if len(metric_dicts(job.metrics)) > 1]
            context["settings_rows"] = _settings_rows(sets, jobs)
            context["rows"] = _metric_rows(sets)
            context.update(_curves(sets, labels))
            context["confusions"] = _confusions(sets, labels)
            context["fairness"], context["fairness_total"] = _fairness(sets)
            context["fairness_shown"] = FAIRNESS_ROWS
            context["importance"] = _importances(sets, labels)
        return render(request, "jobs/compare.html", context)
