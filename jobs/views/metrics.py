"""What a metrics job's results look like on a page: headline numbers, plots, the fairness
table, and two jobs side by side.

Job.metrics is whatever the model's metrics function yielded, so every part is read
defensively: a part whose shape is not the expected one is left out (it still shows in the raw
JSON) rather than breaking the page. Every part is bounded too (jobs.plots bounds the plots,
this module the tables and the raw JSON shown inline), and the page says what it left out.
"""

from __future__ import annotations

import heapq
import json
import math
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from commandcenter.lib.numbers import number
from jobs import plots
from jobs.metrics_size import OMITTED_KEY
from jobs.models import Job, JobStatus, JobType
from jobs.selectors import job_list
from jobs.views import metric_charts
from jobs.views._common import get_job_for_user

HEADLINE = (
    ("accuracy", "Accuracy"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1_score", "F1"),
    ("auc", "AUC"),
    ("average_precision", "Average precision"),
    ("log_loss", "Log loss"),
    ("mae", "MAE"),
    ("rmse", "RMSE"),
    ("r2_score", "R²"),
    ("mape", "MAPE"),
)
HEADLINE_LABELS = dict(HEADLINE)
HIGHER_IS_BETTER = {
    "accuracy",
    "precision",
    "recall",
    "f1_score",
    "auc",
    "average_precision",
    "r2_score",
}
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
COMPARE_CHOICES = 50
SETS_SHOWN = 20  # metric dicts drawn on one page
ROWS_SHOWN = 100  # rows of the fairness and per-class tables
COMPARE_EXTRA_ROWS = 100  # other numeric metrics compared, beyond the headline ones
RAW_JSON_SHOWN_BYTES = 200_000  # larger raw JSON is offered as a download instead
TEXT_CHARS = 100  # a table cell's text from the metrics is cut there


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)  # NaN/inf cannot be plotted or compared
    )


def fmt(value: object) -> str:
    """A metric as text, in the pages' one number format (commandcenter.lib.numbers)."""
    return number(value)


def _curve(
    points: object, x_key: str, y_key: str, *, keep: bool = False
) -> list[tuple[float, float]]:
    """The curve's points, downsampled to what a plot draws (plots.CURVE_MAX_POINTS) unless
    KEEP (to compute over all of them first)."""
    if isinstance(points, dict) and isinstance(points.get(x_key), list):
        # Columns, as scikit-learn returns them: {"fpr": [...], "tpr": [...]}.
        xs, ys = points[x_key], points.get(y_key)
        if not isinstance(ys, list) or len(xs) != len(ys):
            return []
        pairs = zip(xs, ys, strict=True)
    elif isinstance(points, list):
        pairs = (
            (p.get(x_key), p.get(y_key)) for p in points if isinstance(p, dict)
        )  # fmt: skip
    else:
        return []
    curve = [(float(x), float(y)) for x, y in pairs if _is_number(x) and _is_number(y)]
    if len(curve) < 2:
        return []
    return curve if keep else plots.downsample(curve)


def _roc_title(auc: object) -> str:
    return f"ROC curve (AUC = {fmt(auc)})" if _is_number(auc) else "ROC curve"


def average_precision(metrics: dict, curve: list[tuple[float, float]]) -> float | None:
    """The metrics' own average_precision, else the step sum over the PR curve's points
    (recall, precision), as scikit-learn computes it: sum of (R_n - R_n-1) * P_n."""
    if _is_number(metrics.get("average_precision")):
        return float(metrics["average_precision"])
    if len(curve) < 2:
        return None
    # By recall, rising; of points with one recall the most precise comes first, as the
    # highest threshold reaching that recall does in scikit-learn's sum.
    ordered = sorted(curve, key=lambda point: (point[0], -point[1]))
    return sum((r1 - r0) * p1 for (r0, _), (r1, p1) in zip(ordered, ordered[1:], strict=False))


def prevalence(metrics: dict) -> float | None:
    """The share of positive records: the metrics' own prevalence, else the positive label's
    row of a binary confusion matrix over all of it."""
    if _is_number(metrics.get("prevalence")):
        return float(metrics["prevalence"])
    labels, rows = metrics.get("labels"), metrics.get("confusion_matrix")
    positive = metrics.get("positive_label")
    if not isinstance(labels, list) or not isinstance(rows, list) or len(labels) != len(rows):
        return None
    if len(labels) != 2 or positive is None:
        return None
    totals = []
    for row in rows:
        values = list(row.values()) if isinstance(row, dict) else row
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            return None
        totals.append(sum(values))
    index = next((i for i, label in enumerate(labels) if str(label) == str(positive)), None)
    everything = sum(totals)
    return totals[index] / everything if index is not None and everything else None


def pr_plot(metrics: dict, uid: str) -> object:
    """The precision–recall curve with its average precision in the title and the
    prevalence (a random guess's precision) as a dashed line; None without a curve."""
    full = _curve(metrics.get("precision_recall_curve"), "recall", "precision", keep=True)
    if not full:
        return None
    ap, base = average_precision(metrics, full), prevalence(metrics)
    return plots.line_plot(
        [("Precision–recall", plots.downsample(full))],
        uid=uid,
        title="Precision–recall curve" + (f" (AP = {fmt(ap)})" if ap is not None else ""),
        x_label="Recall",
        y_label="Precision",
        baseline=base,
        baseline_label=f"prevalence {fmt(base)}" if base is not None else "",
    )


def confusion_title(metrics: dict) -> str:
    threshold = metrics.get("threshold")
    return "Confusion matrix" + (f" (threshold {fmt(threshold)})" if _is_number(threshold) else "")


def _confusion(metrics: dict, uid: str) -> tuple[str | None, str]:
    """The heatmap, or None and why it is not drawn ("" when it is simply absent)."""
    labels, rows = metrics.get("labels"), metrics.get("confusion_matrix")
    if not isinstance(rows, list) or not rows:
        return None, ""
    if len(rows) > plots.CONFUSION_MAX_CLASSES:
        return None, (
            f"Confusion matrix: {len(rows):,} classes, too many to draw (at most "
            f"{plots.CONFUSION_MAX_CLASSES}); see the raw JSON or download it."
        )
    if not isinstance(labels, list) or len(labels) != len(rows):
        # No label list to order by: the labels the rows name, in their first-seen order.
        labels = list(dict.fromkeys(k for row in rows if isinstance(row, dict) for k in row))
        if len(labels) != len(rows):
            return None, ""
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
            return None, ""
        if not all(_is_number(v) for v in values):
            return None, ""
        matrix.append(values)
    return plots.confusion_heatmap(names, matrix, uid=uid, title=confusion_title(metrics)), ""


def _shown(what: str, shown: int, total: int) -> str:
    return f"The first {shown:,} of {total:,} {what} are shown; see the raw JSON or download it."


def _bias_rows(bias: object) -> tuple[list[dict], str]:
    if not isinstance(bias, list):
        return [], ""
    # ModelOp's bias test objects are drawn with the other category arrays (metric_charts).
    items = [item for item in bias if isinstance(item, dict) and "test_name" not in item]
    note = _shown("rows", ROWS_SHOWN, len(items)) if len(items) > ROWS_SHOWN else ""
    rows = []
    low, high = DISPARATE_IMPACT_RANGE
    for item in items[:ROWS_SHOWN]:
        impact = item.get("disparate_impact")
        flagged = bool(item.get("disparate_impact_flag")) or (
            _is_number(impact) and not low <= impact <= high
        )
        rows.append(
            {
                "attribute": plots.shorten(fmt(item.get("attribute")), TEXT_CHARS),
                "group": plots.shorten(fmt(item.get("group")), TEXT_CHARS),
                "reference_group": plots.shorten(fmt(item.get("reference_group")), TEXT_CHARS),
                "cells": [
                    (key, fmt(item.get(key)), key == "disparate_impact" and flagged)
                    for key, _ in BIAS_COLUMNS
                ],
                "flagged": flagged,
            }
        )
    return rows, note


def _importance(interpretability: object, uid: str) -> tuple[str | None, str, str]:
    """The bar chart of the largest importances, the method, and a note when some are not
    drawn."""
    if not isinstance(interpretability, dict):
        return None, "", ""
    found = interpretability.get("feature_importance")
    items = []
    for item in found if isinstance(found, list) else []:
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
        return None, "", ""
    shown = heapq.nlargest(plots.IMPORTANCE_MAX_BARS, items, key=lambda t: t[1])
    note = (
        f"The {len(shown)} largest of {len(items):,} features are drawn."
        if len(items) > len(shown)
        else ""
    )
    method = plots.shorten(str(interpretability.get("method") or ""), 60)
    title = "Feature importance" + (f" ({method})" if method else "")
    return plots.importance_bars(shown, uid=uid, title=title), method, note


def _per_class(per_class: object) -> tuple[list[dict], str]:
    if not isinstance(per_class, list):
        return [], ""
    keys = ("precision", "recall", "f1_score", "support")
    items = [row for row in per_class if isinstance(row, dict)]
    rows = [
        {
            "label": plots.shorten(fmt(row.get("label")), TEXT_CHARS),
            "values": [plots.shorten(fmt(row.get(k)), TEXT_CHARS) for k in keys],
        }
        for row in items[:ROWS_SHOWN]
    ]
    return rows, _shown("classes", ROWS_SHOWN, len(items)) if len(items) > ROWS_SHOWN else ""


def _raw(value: object) -> tuple[str, int]:
    """VALUE as indented JSON to show inline, or "" and its size when it is too large."""
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    size = len(text.encode())
    return ("", size) if size > RAW_JSON_SHOWN_BYTES else (text, size)


def _omitted(metrics: dict) -> str:
    """What the worker left out of a too large metrics dict (jobs.metrics_size), in words."""
    note = metrics.get(OMITTED_KEY)
    if not isinstance(note, dict):
        return ""
    sizes = note.get("bytes") if isinstance(note.get("bytes"), dict) else {}
    names = ", ".join(plots.shorten(name, 40) for name in list(sizes)[:10])
    more = len(sizes) - 10 + (note.get("more") if isinstance(note.get("more"), int) else 0)
    if more > 0:
        names += f" and {more:,} more"
    sets = note.get("sets") if isinstance(note.get("sets"), int) else 0
    parts = [f"metrics {names}" if names else "", f"{sets:,} more metric sets" if sets else ""]
    what = " and ".join(p for p in parts if p) or "some metrics"
    return (
        f"The {what} were too large to keep with the job and are not shown; "
        "the job's output file has every metric."
    )


def metric_set(metrics: dict, uid: str) -> dict:
    """Everything the page shows for one metrics dict; UID keeps SVG ids unique on the page."""
    stats = [(label, fmt(metrics[key])) for key, label in HEADLINE if _is_number(metrics.get(key))]
    roc = _curve(metrics.get("roc_curve"), "fpr", "tpr")
    importance, method, importance_note = _importance(metrics.get("interpretability"), f"{uid}-fi")
    confusion, confusion_note = _confusion(metrics, f"{uid}-cm")
    per_class, per_class_note = _per_class(metrics.get("per_class"))
    bias, bias_note = _bias_rows(metrics.get("bias"))
    raw, raw_size = _raw(metrics)
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
        "pr": pr_plot(metrics, f"{uid}-pr"),
        "threshold": fmt(metrics["threshold"]) if _is_number(metrics.get("threshold")) else "",
        "confusion": confusion,
        "confusion_note": confusion_note,
        "per_class": per_class,
        "per_class_note": per_class_note,
        "bias": bias,
        "bias_note": bias_note,
        "bias_columns": [label for _, label in BIAS_COLUMNS],
        "importance": importance,
        "importance_method": method,
        "importance_note": importance_note,
        **metric_charts.context(metrics, uid),
        "omitted": _omitted(metrics),
        "raw": raw,
        "raw_size": raw_size,
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
        .select_related("snapshot__model")
        .defer("metrics", "log")[:COMPARE_CHOICES]
    )
    raw, raw_size = _raw(job.metrics) if not dicts else ("", 0)
    return {
        "metric_sets": [metric_set(m, f"m{i}") for i, m in enumerate(dicts[:SETS_SHOWN])],
        "metric_sets_total": len(dicts),
        "metric_sets_note": (
            f"The first {SETS_SHOWN} of {len(dicts):,} metric sets are shown; "
            "download the JSON for all of them."
            if len(dicts) > SETS_SHOWN
            else ""
        ),
        "metrics_raw": raw,
        "metrics_raw_size": raw_size,
        "compare_candidates": list(candidates),
    }


@login_required
@require_GET
def job_metrics_download_view(request: HttpRequest, job_uuid: UUID) -> HttpResponse:
    """The metrics kept with the job, as one JSON file (the page shows large ones only so)."""
    job = get_job_for_user(request, job_uuid)
    if job.metrics is None:
        raise Http404("This job has no metrics.")
    response = HttpResponse(
        json.dumps(job.metrics, indent=2, sort_keys=True, default=str),
        content_type="application/json",
    )
    name = f"metrics-{str(job.uuid)[:8]}.json"
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response
