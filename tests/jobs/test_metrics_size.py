"""What of a metrics job's results is kept with the job: METRICS_MAX_BYTES bounds Job.metrics."""

from __future__ import annotations

import json

from jobs.metrics_size import OMITTED_KEY, metrics_fit
from jobs.plots import CURVE_MAX_POINTS

LIMIT = 100_000


def _size(value) -> int:
    return len(json.dumps(value).encode())


def test_metrics_within_the_limit_are_kept_as_they_are():
    metrics = [{"accuracy": 0.9, "roc_curve": [{"fpr": 0, "tpr": 0}, {"fpr": 1, "tpr": 1}]}]
    assert metrics_fit(metrics, limit=LIMIT) == (metrics, "")


def test_long_curves_are_downsampled_first_keeping_every_other_key():
    n = 20_000
    curve = [{"fpr": i / n, "tpr": (i / n) ** 0.5, "threshold": 1 - i / n} for i in range(n)]
    kept, note = metrics_fit([{"auc": 0.8, "roc_curve": curve}], limit=LIMIT * 3)
    assert len(kept[0]["roc_curve"]) == CURVE_MAX_POINTS
    assert kept[0]["roc_curve"][0] == curve[0] and kept[0]["roc_curve"][-1] == curve[-1]
    assert kept[0]["auc"] == 0.8 and OMITTED_KEY not in kept[0]
    assert "curves were downsampled to 2,000 points" in note


def test_curves_given_as_columns_are_downsampled_too():
    n = 20_000
    columns = {"recall": [1 - i / n for i in range(n)], "precision": [0.5] * n}
    kept, _ = metrics_fit([{"precision_recall_curve": columns}], limit=LIMIT * 3)
    assert len(kept[0]["precision_recall_curve"]["recall"]) == CURVE_MAX_POINTS


def test_the_largest_values_are_left_out_and_named():
    metrics = [{"accuracy": 0.9, "confusion_matrix": [[1] * 500 for _ in range(500)]}]
    kept, note = metrics_fit(metrics, limit=LIMIT)
    assert kept[0]["accuracy"] == 0.9 and "confusion_matrix" not in kept[0]
    assert list(kept[0][OMITTED_KEY]["bytes"]) == ["confusion_matrix"]
    assert "kept without confusion_matrix" in note and "output file" in note
    assert _size(kept) <= LIMIT


def test_many_metric_sets_keep_the_first_hundred_and_count_the_rest():
    kept, note = metrics_fit([{"i": i, "pad": "x" * 100} for i in range(5000)], limit=LIMIT)
    assert len(kept) == 100 and kept[0]["i"] == 0
    assert kept[-1][OMITTED_KEY]["sets"] == 4900
    assert "4,900 more metric sets" in note
    assert _size(kept) <= LIMIT


def test_huge_key_names_still_fit_in_the_limit():
    metrics = [{f"{'k' * 5000}{i}": i for i in range(200)}]
    kept, _ = metrics_fit(metrics, limit=LIMIT)
    assert _size(kept) <= LIMIT
