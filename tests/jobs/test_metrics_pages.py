"""The results of metrics and training jobs on the job page, the snapshot page and the compare
page. Jobs are made directly in the database with the metrics a run leaves."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from commandcenter.lib import numbers
from jobs import plots
from jobs.metrics_size import metrics_fit
from jobs.models import Job, JobAsset, JobStatus, JobType
from jobs.views.metrics import RAW_JSON_SHOWN_BYTES, ROWS_SHOWN, SETS_SHOWN
from tests.factories import SnapshotFactory

CLASSIFICATION = {
    "accuracy": 0.9123,
    "precision": 0.8765,
    "recall": 0.7654,
    "f1_score": 0.8172,
    "auc": 0.9432,
    "log_loss": 0.2718,
    "positive_label": "yes",
    "labels": ["no", "yes"],
    "confusion_matrix": [{"no": 517, "yes": 23}, {"no": 61, "yes": 399}],
    "roc_curve": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.1, "tpr": 0.8}, {"fpr": 1.0, "tpr": 1.0}],
    "precision_recall_curve": [
        {"precision": 1.0, "recall": 0.0},
        {"precision": 0.9, "recall": 0.7},
        {"precision": 0.46, "recall": 1.0},
    ],
    "per_class": [
        {"label": "no", "precision": 0.89, "recall": 0.96, "f1_score": 0.92, "support": 540},
        {"label": "yes", "precision": 0.95, "recall": 0.87, "f1_score": 0.9, "support": 460},
    ],
}
REGRESSION = {"mae": 1.2345, "rmse": 2.3456, "r2_score": 0.8642, "mape": 12.5}
BIAS = [
    {
        "attribute": "gender", "group": "female", "count": 480, "positive_rate": 0.41,
        "true_positive_rate": 0.77, "statistical_parity_difference": -0.05,
        "disparate_impact": 0.891, "disparate_impact_flag": False,
        "equal_opportunity_difference": -0.02, "reference_group": "male",
    },
    {
        "attribute": "age_band", "group": "under-25", "count": 120, "positive_rate": 0.2,
        "true_positive_rate": 0.5, "statistical_parity_difference": -0.26,
        "disparate_impact": 0.4321, "disparate_impact_flag": True,
        "equal_opportunity_difference": -0.29, "reference_group": "25-60",
    },
]  # fmt: skip
IMPORTANCE = {
    "method": "permutation",
    "feature_importance": [
        {"feature": "petal_length", "importance": 0.4512, "std": 0.03},
        {"feature": "sepal_width", "importance": 0.0123, "std": 0.004},
    ],
}


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def make_metrics_job(snapshot, user, metrics, *, status=JobStatus.COMPLETE, name="test.csv"):
    job = Job.objects.create(
        snapshot=snapshot, created_by=user, status=status, job_type=JobType.METRICS,
        metrics=metrics,
    )  # fmt: skip
    JobAsset.objects.create(job=job, direction="in", kind="embedded", name=name, data="x\n")
    return job


def _page(client, job) -> str:
    response = client.get(reverse("jobs-detail", args=[job.uuid]))
    assert response.status_code == 200
    return response.content.decode()


def _compare(client, a, b):
    return client.get(reverse("jobs-compare"), {"a": str(a), "b": str(b)})


# --- The job page ----------------------------------------------------------------------------


def test_classification_metrics_show_headline_numbers(alice_client, alice_snapshot, alice):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, CLASSIFICATION))
    for label, value in [("Accuracy", "0.9123"), ("Precision", "0.8765"), ("Recall", "0.7654"),
                         ("F1", "0.8172"), ("AUC", "0.9432"), ("Log loss", "0.2718")]:  # fmt: skip
        assert re.search(rf"<dt>{label}</dt><dd>{value}</dd>", html), label


def test_classification_metrics_draw_roc_pr_and_confusion_plots(
    alice_client, alice_snapshot, alice
):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, CLASSIFICATION))
    assert html.count('<svg class="plot-svg"') == 3
    assert "ROC curve (AUC = 0.9432)</title>" in html
    assert 'class="plot-diagonal"' in html
    # Average precision from the curve's steps: 0.7 * 0.9 + 0.3 * 0.46.
    assert "Precision–recall curve (AP = 0.768)</title>" in html
    # The prevalence baseline: 460 of the 1,000 records are "yes".
    assert 'class="plot-diagonal plot-baseline"' in html and ">prevalence 0.46</text>" in html
    assert html.count("<figcaption>") == 3
    # The heatmap: four cells with their counts and row shares, axes named.
    assert html.count('<g class="cm-cell">') == 4
    for count, share in (("517", "95.7%"), ("23", "4.3%"), ("61", "13.3%"), ("399", "86.7%")):
        assert re.search(rf'class="cm-count[^"]*"[^>]*>{count}</text>', html), count
        assert re.search(rf'class="cm-share[^"]*"[^>]*>{share}</text>', html), share
    assert ">Actual</text>" in html and ">Predicted</text>" in html
    assert "<title>actual yes, predicted no: 61 (13.3% of the actual yes)</title>" in html


def test_cells_are_coloured_by_count(alice_client, alice_snapshot, alice):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, CLASSIFICATION))
    fills = re.findall(r'<g class="cm-cell"><rect [^>]*fill="(#[0-9a-f]{6})"', html)
    assert len(fills) == 4
    assert fills[0] == "#2457c5"  # the largest count gets the full colour
    assert len(set(fills)) == 4


def test_regression_metrics_show_as_stat_cards_without_plots(alice_client, alice_snapshot, alice):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, REGRESSION))
    for label, value in [("MAE", "1.234"), ("RMSE", "2.346"), ("R²", "0.8642"), ("MAPE", "12.5")]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html, label
    assert "<svg" not in html
    assert "Accuracy" not in html


def test_fairness_table_flags_disparate_impact_outside_the_range(
    alice_client, alice_snapshot, alice
):
    metrics = {**CLASSIFICATION, "bias": BIAS}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    rows = re.findall(r"<tr( class=\"flagged\")?>\s*<td>(\w+)</td><td>([\w-]+)</td>", html)
    assert [(flag, attribute, group) for flag, attribute, group in rows] == [
        ("", "gender", "female"),
        (' class="flagged"', "age_band", "under-25"),
    ]
    assert '<td class="num bad">0.4321</td>' in html
    assert '<td class="num">0.891</td>' in html
    assert html.count('<span class="badge badge-flagged">flagged</span>') == 1


def test_disparate_impact_outside_the_range_is_flagged_even_without_the_flag(
    alice_client, alice_snapshot, alice
):
    bias = [{**BIAS[0], "disparate_impact": 1.3, "disparate_impact_flag": None}]
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, {"bias": bias}))
    assert '<td class="num bad">1.3</td>' in html
    assert "badge-flagged" in html


def test_feature_importance_is_a_bar_chart_largest_first(alice_client, alice_snapshot, alice):
    html = _page(
        alice_client, make_metrics_job(alice_snapshot, alice, {"interpretability": IMPORTANCE})
    )
    assert "Feature importance (permutation)</title>" in html
    bars = re.findall(r'<rect class="bar"[^>]*><title>(\w+): ([\d.]+) ±', html)
    assert bars == [("petal_length", "0.4512"), ("sepal_width", "0.0123")]


def test_raw_json_is_shown_escaped(alice_client, alice_snapshot, alice):
    metrics = {**REGRESSION, "<script>": "alert(1)", "note": "</pre><b>bold</b>"}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "<summary>Raw JSON</summary>" in html
    assert "&quot;&lt;script&gt;&quot;: &quot;alert(1)&quot;" in html
    assert "<script>" not in html.split("<summary>Raw JSON</summary>")[1]
    assert "<b>bold</b>" not in html


def test_text_from_the_metrics_is_escaped_inside_the_plots(alice_client, alice_snapshot, alice):
    metrics = {
        "labels": ["<b>a</b>", "b&c"],
        "confusion_matrix": [{"<b>a</b>": 1, "b&c": 2}, {"<b>a</b>": 3, "b&c": 4}],
        "interpretability": {"feature_importance": [{"feature": "<i>x</i>", "importance": 1}]},
    }
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "<b>a</b>" not in html and "<i>x</i>" not in html
    assert "&lt;b&gt;a&lt;/b&gt;" in html and "b&amp;c" in html
    assert html.count('<g class="cm-cell">') == 4


def test_a_list_of_metrics_shows_each(alice_client, alice_snapshot, alice):
    metrics = [CLASSIFICATION, REGRESSION]
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "Metrics 1 of 2" in html and "Metrics 2 of 2" in html
    assert "<dt>Accuracy</dt><dd>0.9123</dd>" in html
    assert "<dt>MAE</dt><dd>1.234</dd>" in html
    assert html.count("<summary>Raw JSON</summary>") == 2
    # The SVG ids of the two sets do not collide.
    ids = re.findall(r'<title id="([^"]+)"', html)
    assert len(ids) == len(set(ids)) == 3


def test_curves_given_as_columns_are_drawn_too(alice_client, alice_snapshot, alice):
    metrics = {"roc_curve": {"fpr": [0, 0.2, 1], "tpr": [0, 0.9, 1]}, "auc": 0.91}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "ROC curve (AUC = 0.91)</title>" in html
    assert re.search(r'<polyline class="plot-line" points="(\S+ ){2}\S+"', html)


def test_malformed_metrics_do_not_break_the_page(alice_client, alice_snapshot, alice):
    metrics = {
        "accuracy": "high",
        "roc_curve": [{"fpr": "a"}, 3, None],
        "precision_recall_curve": {"recall": [0, 1], "precision": [1]},
        "labels": ["a"],
        "confusion_matrix": [{"a": "x"}, [1, 2]],
        "bias": ["nope", {"attribute": ["x"], "disparate_impact": None}],
        "interpretability": {"feature_importance": [{"feature": "f", "importance": "n/a"}]},
        "per_class": "none",
    }
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "<svg" not in html
    assert "<summary>Raw JSON</summary>" in html
    assert "<dt>Accuracy</dt>" not in html


def test_metrics_that_are_not_dicts_are_shown_as_json(alice_client, alice_snapshot, alice):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, [1, 2, "<x>"]))
    assert "not a dict or a list of dicts" in html
    assert "&quot;&lt;x&gt;&quot;" in html


def test_metrics_are_not_shown_before_the_job_completes(alice_client, alice_snapshot, alice):
    job = make_metrics_job(alice_snapshot, alice, CLASSIFICATION, status=JobStatus.RUNNING)
    html = _page(alice_client, job)
    assert "plot-svg" not in html and "Compare with" not in html


def test_the_final_status_poll_brings_the_metrics(alice_client, alice_snapshot, alice):
    job = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    response = alice_client.get(reverse("jobs-status", args=[job.uuid]), HTTP_HX_REQUEST="true")
    assert response.status_code == 286
    assert "ROC curve (AUC = 0.9432)" in response.content.decode()


# --- Compare with… -----------------------------------------------------------------------------


def test_compare_form_lists_other_completed_metrics_jobs_the_user_may_see(
    alice_client, alice_snapshot, alice, charlie
):
    job = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    other = make_metrics_job(alice_snapshot, alice, REGRESSION)
    running = make_metrics_job(alice_snapshot, alice, None, status=JobStatus.RUNNING)
    outsider = make_metrics_job(SnapshotFactory(model__owner=charlie), charlie, REGRESSION)
    html = _page(alice_client, job)
    assert f'action="{reverse("jobs-compare")}"' in html
    assert f'<input type="hidden" name="job" value="{job.uuid}">' in html
    options = re.findall(r'<option value="([0-9a-f-]+)"', html)
    assert options == [str(other.uuid)]
    assert str(running.uuid) not in options and str(outsider.uuid) not in options


def test_compare_shows_both_jobs_and_differences(alice_client, alice_snapshot, alice):
    a = make_metrics_job(alice_snapshot, alice, CLASSIFICATION, name="a.csv")
    b_metrics = {**CLASSIFICATION, "accuracy": 0.95, "log_loss": 0.3, "recall": 0.7654}
    v2 = SnapshotFactory(model=alice_snapshot.model, version=2)
    b = make_metrics_job(v2, alice, b_metrics, name="b.csv")
    response = _compare(alice_client, a.uuid, b.uuid)
    assert response.status_code == 200
    html = response.content.decode()
    assert "a.csv" in html and "b.csv" in html
    assert ">v1</a>" in html and ">v2</a>" in html
    row = re.search(r"<td>Accuracy.*?</td>\s*(.*?)</tr>", html, re.S).group(1)
    assert '<td class="num">0.9123</td>' in row and '<td class="num">0.95 ' in row
    assert '<span class="diff small better">(+0.0377' in row
    row = re.search(r"<td>Log loss.*?</td>\s*(.*?)</tr>", html, re.S).group(1)
    assert '<span class="diff small worse">(+0.0282' in row
    row = re.search(r"<td>Recall.*?</td>\s*(.*?)</tr>", html, re.S).group(1)
    assert '<span class="diff small">(0)</span>' in row
    # positive_label is a setting of both, not a metric.
    assert "<td>Positive label</td>" in html
    assert not re.search(r"<td>positive_label", html)
    assert "ROC curves</title>" in html and "Precision–recall curves</title>" in html
    # Each plot: one solid and one dashed line, the legends naming version and job id.
    assert html.count('class="plot-line"') == 2 and html.count('class="plot-line dashed"') == 2
    assert f">echo v2 · {str(b.uuid)[:8]} (AUC 0.9432)</text>" in html
    assert html.count('<g class="cm-cell">') == 8  # both confusion matrices


def test_compare_takes_any_number_of_jobs(alice_client, alice_snapshot, alice):
    jobs = [
        make_metrics_job(alice_snapshot, alice, {**CLASSIFICATION, "accuracy": 0.9 + i / 100})
        for i in range(4)
    ]
    response = alice_client.get(reverse("jobs-compare"), {"job": [str(j.uuid) for j in jobs]})
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(r"<td>Accuracy.*?</td>\s*(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r'<td class="num">([\d.]+)', row) == ["0.9", "0.91", "0.92", "0.93"]
    assert html.count('<g class="cm-cell">') == 16
    for job in jobs:
        assert f"· {str(job.uuid)[:8]} (AP " in html


def test_lower_is_better_for_errors(alice_client, alice_snapshot, alice):
    a = make_metrics_job(alice_snapshot, alice, REGRESSION)
    b = make_metrics_job(alice_snapshot, alice, {**REGRESSION, "mae": 1.0, "r2_score": 0.5})
    html = _compare(alice_client, a.uuid, b.uuid).content.decode()
    assert re.search(r"<td>MAE.*?</td>.*?diff small better\">\(-0.2345", html, re.S)
    assert re.search(r"<td>R².*?</td>.*?diff small worse\">\(-0.3642", html, re.S)
    assert "ROC curves" not in html


def test_compare_is_404_for_a_job_the_user_may_not_see(
    alice_client, charlie_client, alice_snapshot, alice, charlie
):
    a = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    b = make_metrics_job(alice_snapshot, alice, REGRESSION)
    assert _compare(charlie_client, a.uuid, b.uuid).status_code == 404
    theirs = make_metrics_job(SnapshotFactory(model__owner=charlie), charlie, REGRESSION)
    alice_client.force_login(alice)
    assert _compare(alice_client, a.uuid, theirs.uuid).status_code == 404


def test_compare_requires_login(client, alice_snapshot, alice):
    a = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    response = _compare(client, a.uuid, a.uuid)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "params",
    [{}, {"a": "nope", "b": "x"}, {"a": "123"}, {"a": "00000000-0000-0000-0000-00000000000"}],
)
def test_compare_with_bad_ids_is_404(alice_client, alice_snapshot, alice, params):
    job = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    params = {"b": str(job.uuid), **params}
    assert alice_client.get(reverse("jobs-compare"), params).status_code == 404


def test_compare_with_an_unknown_job_is_404(alice_client, alice_snapshot, alice):
    job = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    unknown = "12345678-1234-5678-1234-567812345678"
    assert _compare(alice_client, job.uuid, unknown).status_code == 404


def test_compare_with_a_job_without_metrics_says_so(alice_client, alice_snapshot, alice):
    a = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    b = make_metrics_job(alice_snapshot, alice, None, status=JobStatus.RUNNING)
    response = _compare(alice_client, a.uuid, b.uuid)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{str(b.uuid)[:8]}</a> has no metrics to compare yet: it is running." in html
    assert "Metrics side by side" not in html


def test_compare_uses_the_first_of_several_metrics(alice_client, alice_snapshot, alice):
    a = make_metrics_job(alice_snapshot, alice, [REGRESSION, {"mae": 99.0}])
    b = make_metrics_job(alice_snapshot, alice, {**REGRESSION, "mae": 2.0})
    html = _compare(alice_client, a.uuid, b.uuid).content.decode()
    assert "yielded several sets of metrics; the first of each is compared" in html
    row = re.search(r"<td>MAE.*?</td>\s*(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r'<td class="num[^"]*">([^<]*)', row) == ["1.234", "2 "]
    assert "(+0.7655" in row


# --- Training jobs and snapshot provenance -------------------------------------------------------


def test_training_job_page_links_the_new_snapshot(alice_client, alice_snapshot, alice):
    job = Job.objects.create(
        snapshot=alice_snapshot, created_by=alice, status=JobStatus.COMPLETE,
        job_type=JobType.TRAINING,
    )  # fmt: skip
    new = SnapshotFactory(model=alice_snapshot.model, version=2, parent=alice_snapshot)
    new.training_job = job
    new.save()
    job.result_snapshot = new
    job.save()
    html = _page(alice_client, job)
    assert f'New snapshot: <a href="{new.get_absolute_url()}">echo v2</a>' in html


def test_snapshot_page_shows_its_training_provenance(alice_client, alice_snapshot, alice):
    job = Job.objects.create(
        snapshot=alice_snapshot, created_by=alice, status=JobStatus.COMPLETE,
        job_type=JobType.TRAINING,
    )  # fmt: skip
    new = SnapshotFactory(
        model=alice_snapshot.model, version=2, parent=alice_snapshot, training_job=job,
        training_data={"size": 2048, "rows": 12345, "sha256": "ab12cd34ef56" + "0" * 52},
    )  # fmt: skip
    response = alice_client.get(reverse("registry-snapshot-detail", args=[new.uuid]))
    html = re.sub(r"\s+", " ", response.content.decode())
    assert (
        f'Made by training job <a href="{job.get_absolute_url()}" class="mono">'
        f'{str(job.uuid)[:8]}</a> from <a href="{alice_snapshot.get_absolute_url()}">v1</a>'
        " on data 2.0 KB, 12,345 rows, sha256"
    ) in html
    assert ">ab12cd34ef56…</span>" in html


def test_snapshot_page_without_training_has_no_provenance(alice_client, alice_snapshot):
    response = alice_client.get(reverse("registry-snapshot-detail", args=[alice_snapshot.uuid]))
    assert "Made by training job" not in response.content.decode()


# --- Bounds: metrics come from model code, so nothing on the page grows with them -----------


def test_a_confusion_matrix_with_too_many_classes_is_not_drawn_and_says_so(
    alice_client, alice_snapshot, alice
):
    n = plots.CONFUSION_MAX_CLASSES + 1
    metrics = {"labels": list(range(n)), "confusion_matrix": [[1] * n for _ in range(n)]}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert '<g class="cm-cell">' not in html
    assert f"Confusion matrix: {n} classes, too many to draw (at most 50)" in html


def test_a_confusion_matrix_of_fifty_classes_is_still_drawn(alice_client, alice_snapshot, alice):
    n = plots.CONFUSION_MAX_CLASSES
    metrics = {"labels": list(range(n)), "confusion_matrix": [[1] * n for _ in range(n)]}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert html.count('<g class="cm-cell">') == n * n


def test_a_long_roc_curve_is_drawn_with_at_most_the_plotted_points(
    alice_client, alice_snapshot, alice
):
    n = 50_000
    metrics = {"roc_curve": {"fpr": [i / n for i in range(n)], "tpr": [1.0] * n}, "auc": 0.9}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    (points,) = re.findall(r'<polyline class="plot-line" points="([^"]+)"', html)
    assert len(points.split()) == plots.CURVE_MAX_POINTS


def test_downsampling_keeps_the_ends_and_the_corner_of_a_curve():
    # A ROC curve that rises at once to (0.001, 1), then runs flat to (1, 1).
    points = [(0.0, 0.0), (0.001, 1.0)] + [(i / 100_000, 1.0) for i in range(101, 100_001)]
    kept = plots.downsample(points, 100)
    assert len(kept) == 100
    assert kept[0] == (0.0, 0.0) and kept[-1] == (1.0, 1.0)
    assert (0.001, 1.0) in kept


def test_only_the_largest_importances_are_drawn_and_the_page_says_so(
    alice_client, alice_snapshot, alice
):
    features = [{"feature": f"f{i}", "importance": i / 1000} for i in range(500)]
    metrics = {"interpretability": {"feature_importance": features}}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    bars = re.findall(r'<rect class="bar"[^>]*><title>(\w+): ', html)
    assert bars == [f"f{i}" for i in range(499, 499 - plots.IMPORTANCE_MAX_BARS, -1)]
    assert "The 30 largest of 500 features are drawn." in html


def test_the_fairness_table_shows_a_bounded_number_of_rows(alice_client, alice_snapshot, alice):
    bias = [{**BIAS[0], "group": f"g{i}"} for i in range(1000)]
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, {"bias": bias}))
    assert html.count("<td>gender</td>") == ROWS_SHOWN
    assert f"The first {ROWS_SHOWN} of 1,000 rows are shown" in html


def test_large_raw_json_is_offered_as_a_download_instead(alice_client, alice_snapshot, alice):
    metrics = {**REGRESSION, "notes": "x" * (RAW_JSON_SHOWN_BYTES + 1)}
    job = make_metrics_job(alice_snapshot, alice, metrics)
    html = _page(alice_client, job)
    assert "<summary>Raw JSON</summary>" not in html and "x" * 1000 not in html
    assert "too large to show here" in html
    assert reverse("jobs-metrics-download", args=[job.uuid]) in html
    assert "<dt>MAE</dt><dd>1.234</dd>" in html


def test_only_the_first_metric_sets_are_shown(alice_client, alice_snapshot, alice):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, [REGRESSION] * 500))
    assert f"Metrics {SETS_SHOWN} of {SETS_SHOWN}" in html
    assert f"The first {SETS_SHOWN} of 500 metric sets are shown" in html


def test_metrics_the_worker_left_out_are_named_on_the_page(alice_client, alice_snapshot, alice):
    big = {**CLASSIFICATION, "per_row": list(range(200_000))}
    ((kept,), _) = metrics_fit([big], limit=100_000)
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, kept))
    assert "The metrics per_row were too large to keep with the job" in html
    assert "<dt>Accuracy</dt><dd>0.9123</dd>" in html


def test_the_metrics_download_is_the_whole_json(alice_client, alice_snapshot, alice):
    job = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    response = alice_client.get(reverse("jobs-metrics-download", args=[job.uuid]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert json.loads(response.content) == CLASSIFICATION


def test_the_metrics_download_checks_ownership(charlie_client, alice_snapshot, alice):
    job = make_metrics_job(alice_snapshot, alice, CLASSIFICATION)
    response = charlie_client.get(reverse("jobs-metrics-download", args=[job.uuid]))
    assert response.status_code == 404


def test_the_metrics_download_is_404_for_a_job_without_metrics(alice_client, alice_snapshot, alice):
    job = make_metrics_job(alice_snapshot, alice, None, status=JobStatus.RUNNING)
    response = alice_client.get(reverse("jobs-metrics-download", args=[job.uuid]))
    assert response.status_code == 404


def test_importance_labels_sit_past_their_whiskers_inside_the_chart():
    items = [("wide", 0.30, 0.25), ("narrow", 0.10, 0.01), ("negative", -0.05, 0.2)]
    svg = plots.importance_bars(items, uid="t", title="t")
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
    found = re.findall(r'class="plot-error" x1="[\d.]+" y1="[\d.]+" x2="([\d.]+)"', svg)
    whiskers = [float(x) for x in found]
    labels = re.findall(r'class="plot-tick fi-value" x="([\d.]+)" y="[\d.]+">([^<]+)<', svg)
    assert [text for _, text in labels] == ["0.3", "0.1", "-0.05"]
    for end, (x, text) in zip(whiskers, labels, strict=True):
        assert float(x) > end  # the label starts past the whisker's end
        assert float(x) + 7 * len(text) <= width  # and ends inside the chart


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.943217, "0.9432"), (12345.678, "12,346"), (1234.5678, "1,235"), (2.0, "2"),
     (1000000, "1,000,000"), (0.000012345, "1.234e-05"), (-0.05, "-0.05"), (None, "—")],
)  # fmt: skip
def test_one_number_format_four_significant_digits(value, text):
    assert numbers.number(value) == text


def test_digits_asks_for_more(alice_client, alice_snapshot, alice):
    job = make_metrics_job(alice_snapshot, alice, {**CLASSIFICATION, "auc": 0.94321987})
    html = alice_client.get(reverse("jobs-detail", args=[job.uuid]), {"digits": "7"}).content
    assert b"ROC curve (AUC = 0.9432199)</title>" in html
    assert b"<dt>AUC</dt><dd>0.9432199</dd>" in html
