"""What a metrics job's results look like on a page: headline numbers, plots, the fairness
table, and two jobs side by side.

Job.metrics is whatever the model's metrics function yielded, so every part is read
defensively: a part whose shape is not the expected one is left out (it still shows in the raw
JSON) rather than breaking the page.
"""

from __future__ import annotations

import json
import math
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs import plots
from jobs.models import Job, JobStatus, JobType
from jobs.selectors import job_list
from jobs.views._common import get_job_for_user

HEADLINE = (
    ("accuracy", "Accuracy"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1_score", "F1"),
    ("auc", "AUC"),
    ("log_loss", "Log loss"),
    ("mae", "MAE"),
    ("rmse", "RMSE"),
    ("r2_score", "R²"),
    ("mape", "MAPE"),
)
HEADLINE_LABELS = dict(HEADLINE)
HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1_score", "auc", "r2_score"}
LOWER_IS_BETTER = {"log_loss", "mae", "rmse", "mape"}
DISPARATE_IMPACT_RANGE = (0.8, 1.25)
BIAS_COLUMNS = (
    ("count", "Count"),
    ("positive_rate", "Positive rate"),
    ("true_positive_rate", "TPR"),
    ("statistical_parity_difference", "Parity diff."),
    ("disparate_impact", "Disparate impact"),
    ("equal_opportunity_difference", "Equal opp. diff."),
)
IMPORTANCE_SHOWN = 25
COMPARE_CHOICES = 50


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)  # NaN/inf cannot be plotted or compared
    )


def fmt(value: object) -> str:
    """A metric as text: integers whole, other numbers to four significant digits."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _curve(points: object, x_key: str, y_key: str) -> list[tuple[float, float]]:
    if isinstance(points, dict) and isinstance(points.get(x_key), list):
        # Columns, as scikit-learn returns them: {"fpr": [...], "tpr": [...]}.
        xs, ys = points[x_key], points.get(y_key)
        if not isinstance(ys, list) or len(xs) != len(ys):
            return []
        points = [{x_key: x, y_key: y} for x, y in zip(xs, ys, strict=True)]
    if not isinstance(points, list):
        return []
    curve = [
        (float(p[x_key]), float(p[y_key]))
        for p in points
        if isinstance(p, dict) and _is_number(p.get(x_key)) and _is_number(p.get(y_key))
    ]
    return curve if len(curve) >= 2 else []


def _roc_title(auc: object) -> str:
    return f"ROC curve (AUC = {auc:.3f})" if _is_number(auc) else "ROC curve"


def _confusion(metrics: dict, uid: str):
    labels, rows = metrics.get("labels"), metrics.get("confusion_matrix")
    if not isinstance(rows, list) or not rows:
        return None
    if not isinstance(labels, list) or len(labels) != len(rows):
        # No label list to order by: the labels the rows name, in their first-seen order.
        labels = list(dict.fromkeys(k for row in rows if isinstance(row, dict) for k in row))
        if len(labels) != len(rows):
            return None
    names = [str(label) for label in labels]
    matrix = []
    for row in rows:
        if isinstance(row, dict):
            # JSON keys are strings: a label True or 1 is the key "true" or "1".
            values = [
                row.get(name, row.get(json.dumps(label), 0))
                for name, label in zip(names, labels, strict=True)
            ]
        elif isinstance(row, list) and len(row) == len(names):
            values = row
        else:
            return None
        if not all(_is_number(v) for v in values):
            return None
        matrix.append(values)
    return plots.confusion_heatmap(names, matrix, uid=uid, title="Confusion matrix")


def _bias_rows(bias: object) -> list[dict]:
    if not isinstance(bias, list):
        return []
    rows = []
    low, high = DISPARATE_IMPACT_RANGE
    for item in bias:
        if not isinstance(item, dict):
            continue
        impact = item.get("disparate_impact")
        flagged = bool(item.get("disparate_impact_flag")) or (
            _is_number(impact) and not low <= impact <= high
        )
        rows.append(
            {
                "attribute": fmt(item.get("attribute")),
                "group": fmt(item.get("group")),
                "reference_group": fmt(item.get("reference_group")),
                "cells": [
                    (key, fmt(item.get(key)), key == "disparate_impact" and flagged)
                    for key, _ in BIAS_COLUMNS
                ],
                "flagged": flagged,
            }
        )
    return rows


def _importance(interpretability: object, uid: str):
    if not isinstance(interpretability, dict):
        return None, ""
    items = []
    for item in interpretability.get("feature_importance") or []:
        if isinstance(item, dict) and _is_number(item.get("importance")):
            std = item.get("std")
            items.append(
                (
                    str(item.get("feature", "?")),
                    item["importance"],
                    std if _is_number(std) else None,
                )
            )
    if not items:
        return None, ""
    items.sort(key=lambda t: t[1], reverse=True)
    method = str(interpretability.get("method") or "")
    title = "Feature importance" + (f" ({method})" if method else "")
    return plots.importance_bars(items[:IMPORTANCE_SHOWN], uid=uid, title=title), method


def _per_class(per_class: object) -> list[dict]:
    if not isinstance(per_class, list):
        return []
    keys = ("precision", "recall", "f1_score", "support")
    return [
        {"label": fmt(row.get("label")), "values": [fmt(row.get(k)) for k in keys]}
        for row in per_class
        if isinstance(row, dict)
    ]


def metric_set(metrics: dict, uid: str) -> dict:
    """Everything the page shows for one metrics dict; UID keeps SVG ids unique on the page."""
    stats = [(label, fmt(metrics[key])) for key, label in HEADLINE if _is_number(metrics.get(key))]
    roc = _curve(metrics.get("roc_curve"), "fpr", "tpr")
    pr = _curve(metrics.get("precision_recall_curve"), "recall", "precision")
    importance, method = _importance(metrics.get("interpretability"), f"{uid}-fi")
    return {
        "uid": uid,
        "stats": stats,
        "positive_label": metrics.get("positive_label"),
        "roc": plots.line_plot(
            [("ROC", roc)],
            uid=f"{uid}-roc",
            title=_roc_title(metrics.get("auc")),
            x_label="False positive rate",
            y_label="True positive rate",
            diagonal=True,
        )
        if roc
        else None,
        "pr": plots.line_plot(
            [("Precision–recall", pr)],
            uid=f"{uid}-pr",
            title="Precision–recall curve",
            x_label="Recall",
            y_label="Precision",
        )
        if pr
        else None,
        "confusion": _confusion(metrics, f"{uid}-cm"),
        "per_class": _per_class(metrics.get("per_class")),
        "bias": _bias_rows(metrics.get("bias")),
        "bias_columns": [label for _, label in BIAS_COLUMNS],
        "importance": importance,
        "importance_method": method,
        "raw": json.dumps(metrics, indent=2, sort_keys=True, default=str),
    }


def metric_dicts(metrics: object) -> list[dict]:
    """Job.metrics as a list of dicts: a dict alone, or the dicts of a list."""
    if isinstance(metrics, dict):
        return [metrics]
    if isinstance(metrics, list):
        return [m for m in metrics if isinstance(m, dict)]
    return []


def metrics_context(job: Job, user) -> dict:
    """The metrics part of the job page's live region (empty until the job is complete)."""
    if job.status != JobStatus.COMPLETE or job.metrics in (None, {}, []):
        return {}
    dicts = metric_dicts(job.metrics)
    candidates = (
        job_list(user=user)
        .filter(job_type=JobType.METRICS, status=JobStatus.COMPLETE, metrics__isnull=False)
        .exclude(pk=job.pk)
        .select_related("snapshot__model")[:COMPARE_CHOICES]
    )
    return {
        "metric_sets": [metric_set(m, f"m{i}") for i, m in enumerate(dicts)],
        "metrics_raw": json.dumps(job.metrics, indent=2, sort_keys=True, default=str)
        if not dicts
        else "",
        "compare_candidates": list(candidates),
    }


def _compare_rows(a: dict, b: dict) -> list[dict]:
    keys = [k for k, _ in HEADLINE if _is_number(a.get(k)) or _is_number(b.get(k))]
    extra = sorted(
        {k for m in (a, b) for k, v in m.items() if _is_number(v) and k not in HEADLINE_LABELS}
    )
    rows = []
    for key in keys + extra:
        va, vb = a.get(key), b.get(key)
        diff, verdict = None, ""
        if _is_number(va) and _is_number(vb):
            diff = vb - va
            if diff and key in HIGHER_IS_BETTER:
                verdict = "better" if diff > 0 else "worse"
            elif diff and key in LOWER_IS_BETTER:
                verdict = "better" if diff < 0 else "worse"
        rows.append(
            {
                "key": key,
                "label": HEADLINE_LABELS.get(key, key),
                "a": fmt(va) if _is_number(va) else "—",
                "b": fmt(vb) if _is_number(vb) else "—",
                "diff": "—" if diff is None else f"{diff:+.4g}" if diff else "0",
                "verdict": verdict,
            }
        )
    return rows


def _job_from_param(request: HttpRequest, name: str) -> Job:
    try:
        job_uuid = UUID(request.GET.get(name, ""))
    except ValueError as exc:
        raise Http404(f"No job {name!r} to compare.") from exc
    return get_job_for_user(request, job_uuid)


@login_required
@require_GET
def job_compare_view(request: HttpRequest) -> HttpResponse:
    job_a, job_b = _job_from_param(request, "a"), _job_from_param(request, "b")
    jobs = [job_a, job_b]
    missing = [job for job in jobs if not metric_dicts(job.metrics)]
    context = {
        "job_a": job_a,
        "job_b": job_b,
        "sides": [("A", job_a), ("B", job_b)],
        "missing": missing,
        "several": [],
    }
    if not missing:
        a, b = (metric_dicts(job.metrics)[0] for job in jobs)
        context["several"] = [job for job in jobs if len(metric_dicts(job.metrics)) > 1]
        context["rows"] = _compare_rows(a, b)
        curves = [
            (f"{label}: {job.snapshot.model.name} v{job.snapshot.version}", curve)
            for label, job, curve in (
                ("A", job_a, _curve(a.get("roc_curve"), "fpr", "tpr")),
                ("B", job_b, _curve(b.get("roc_curve"), "fpr", "tpr")),
            )
        ]
        if all(curve for _, curve in curves):
            context["roc"] = plots.line_plot(
                curves,
                uid="cmp-roc",
                title="ROC curves",
                x_label="False positive rate",
                y_label="True positive rate",
                diagonal=True,
            )
    return render(request, "jobs/compare.html", context)
