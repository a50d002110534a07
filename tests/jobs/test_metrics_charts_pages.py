"""ModelOp's chart keys, its category arrays, the data drift table and SHAP bars on the job
page. Jobs are made directly in the database with the metrics a run leaves."""

from __future__ import annotations

import re

import pytest

from jobs.views.metric_charts import CHARTS_SHOWN, ROWS_SHOWN
from tests.jobs.test_metrics_pages import _page, make_metrics_job

BAR = {
    "title": "Counts by band",
    "x_axis_label": "Band",
    "y_axis_label": "Records",
    "data": {"baseline": [10, 20, 30], "sample": [12, 18, 35]},
    "categories": ["low", "mid", "high"],
}
LINE = {
    "title": "Score over threshold",
    "x_axis_label": "Threshold",
    "y_axis_label": "Score",
    "data": {"f1": [[0.1, 0.5], [0.5, 0.8], [0.9, 0.6]]},
}
TIME_LINE = {
    "title": "AUC by day",
    "x_axis_label": "Day",
    "y_axis_label": "AUC",
    "data": {"auc": [["2026-11-01", 0.91], ["2026-11-02", 0.89], ["2026-11-03T12:00:00", 0.93]]},
}
SCATTER = {"title": "Actual vs predicted", "data": {"points": [[1, 1.2], [2, 1.9], [3, 3.3]]}}
TABLE = [{"feature": "age", "mean": 41.5}, {"feature": "income", "mean": 52000, "extra": "x"}]
DRIFT = [
    {
        "test_name": "Kolmogorov-Smirnov", "test_category": "data_drift",
        "test_type": "kolmogorov_smirnov", "test_id": "data_drift_kolmogorov_smirnov",
        "values": {"age": 0.61, "income": 0.001}, "statistics": {"age": 0.02, "income": 0.3},
    },
    {
        "test_name": "Jensen-Shannon", "test_category": "data_drift", "test_type": "jensen_shannon",
        "test_id": "data_drift_jensen_shannon", "values": {"age": 0.03, "income": 0.25},
    },
    {
        "test_name": "Population Stability Index", "test_category": "data_drift", "test_type": "psi",
        "test_id": "data_drift_psi", "values": {"age": 0.01, "income": 0.45},
    },
    {
        "test_name": "Summary", "test_category": "data_drift", "test_type": "summary",
        "test_id": "data_drift_summary", "values": {"baseline": {"age": {"mean": 40.1}}},
    },
]  # fmt: skip


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _svgs(html: str) -> list[str]:
    return re.findall(r'<svg class="plot-svg".*?</svg>', html, flags=re.S)


def test_a_bar_graph_draws_one_bar_per_value_with_its_title(alice_client, alice_snapshot, alice):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, {"generic_bar_graph": BAR}))
    (svg,) = _svgs(html)
    assert "Counts by band</title>" in svg
    assert svg.count('class="chart-bar"') == 6
    assert "<title>sample · high: 35</title>" in svg
    assert ">Band</text>" in svg and ">Records</text>" in svg
    assert "style=" not in svg and "<script" not in html.split("metrics-m0")[1]


def test_a_horizontal_bar_graph_draws_its_bars(alice_client, alice_snapshot, alice):
    metrics = {"horizontal_bar_graph": {**BAR, "title": "Sideways"}}
    (svg,) = _svgs(_page(alice_client, make_metrics_job(alice_snapshot, alice, metrics)))
    assert "Sideways</title>" in svg and svg.count('class="chart-bar"') == 6


def test_line_and_time_line_graphs_draw_polylines(alice_client, alice_snapshot, alice):
    metrics = {"generic_line_graph": LINE, "time_line_graph": TIME_LINE}
    svgs = _svgs(_page(alice_client, make_metrics_job(alice_snapshot, alice, metrics)))
    assert len(svgs) == 2
    assert "Score over threshold</title>" in svgs[0] and "<polyline" in svgs[0]
    assert "AUC by day</title>" in svgs[1] and svgs[1].count(",") >= 3
    assert "2026-11-01" in svgs[1]  # dates on the x axis


def test_a_scatter_plot_draws_its_points(alice_client, alice_snapshot, alice):
    metrics = {"generic_scatter_plot": SCATTER}
    (svg,) = _svgs(_page(alice_client, make_metrics_job(alice_snapshot, alice, metrics)))
    assert svg.count('<circle class="chart-point"') == 3


def test_a_generic_table_shows_its_rows_and_the_union_of_columns(
    alice_client, alice_snapshot, alice
):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, {"generic_table": TABLE}))
    table = html.split('class="table compact modelop-table"')[1].split("</table>")[0]
    # PostgreSQL's jsonb keeps an object's keys in an order of its own: compare by column.
    headers = re.findall(r"<th>(.*?)</th>", table)
    assert sorted(headers) == ["extra", "feature", "mean"]
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in table.split("<tr>")[2:]]
    cells = [dict(zip(headers, row, strict=True)) for row in rows]
    assert {"feature": "income", "mean": "52000", "extra": "x"} in cells
    assert {"feature": "age", "mean": "41.5", "extra": "—"} in cells


def test_a_key_holding_several_named_charts_draws_each(alice_client, alice_snapshot, alice):
    metrics = {
        "generic_bar_graph": {"first": BAR, "second": {**BAR, "title": "Other"}},
        "generic_table": {"Means": TABLE},
    }
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert len(_svgs(html)) == 2 and "Other</title>" in html
    assert "<h4>Means</h4>" in html


@pytest.mark.parametrize(
    "metrics",
    [
        {"generic_bar_graph": "nope"},
        {"generic_bar_graph": {"data": {"a": ["x", None]}}},
        {"generic_bar_graph": {"data": [1, 2]}, "horizontal_bar_graph": {"data": {"a": 3}}},
        {"generic_line_graph": {"data": {"a": [[1], "x", [None, 2], [1, "y"]]}}},
        {"time_line_graph": {"data": {"a": [["not a date", 1]]}}},
        {"generic_scatter_plot": {"data": None}, "generic_table": "rows"},
        {"generic_table": [1, 2], "performance": [{"test_name": "x"}, "y", None]},
        {"data_drift": [{"test_name": "KS", "test_type": "kolmogorov_smirnov", "values": [1]}]},
        {"generic_line_graph": {"data": {"flat": [[1, 5], [2, 5]]}}},  # a flat line
        {"generic_bar_graph": {"one": None, "two": 3}},
    ],
)
def test_malformed_charts_do_not_break_the_page(alice_client, alice_snapshot, alice, metrics):
    _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))


def test_a_malformed_chart_is_named_in_a_note(alice_client, alice_snapshot, alice):
    metrics = {"generic_bar_graph": {"title": "Broken", "data": {"a": ["x"]}}}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "Broken: no data of the expected shape, not drawn." in html


def test_charts_are_bounded(alice_client, alice_snapshot, alice):
    many = {f"c{i}": BAR for i in range(CHARTS_SHOWN + 5)}
    long_line = {"data": {f"s{i}": [[x, x * i] for x in range(20_000)] for i in range(20)}}
    metrics = {"generic_bar_graph": many, "generic_line_graph": long_line}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert len(_svgs(html)) == CHARTS_SHOWN
    assert f"At most {CHARTS_SHOWN} charts are drawn." in html


def test_category_arrays_show_as_tables_of_their_values(alice_client, alice_snapshot, alice):
    metrics = {
        "performance": [
            {"test_name": "Classification Metrics", "test_category": "performance",
             "test_type": "classification_metrics", "values": {"auc": 0.91, "f1_score": 0.8}},
        ],
        "stability": [
            {"test_name": "Stability Analysis", "test_type": "stability_analysis",
             "values": {"age": {"stability_index": 0.05}}},
        ],
        "bias": [{"test_name": "Aequitas Bias", "test_type": "aequitas_bias", "values": {"x": 1}}],
    }  # fmt: skip
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "<h3>Performance</h3>" in html and "<h3>Stability</h3>" in html
    assert "<td>Classification Metrics</td><td>classification_metrics</td><td>auc</td>" in html
    assert "<td>age.stability_index</td>" in html
    assert "<h3>Bias</h3>" in html and "<h3>Fairness</h3>" not in html


def test_category_tables_are_bounded(alice_client, alice_snapshot, alice):
    values = {f"f{i}": i for i in range(ROWS_SHOWN * 3)}
    metrics = {"concept_drift": [{"test_name": "Big", "test_type": "t", "values": values}]}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    table = html.split('class="table compact test-results"')[1].split("</table>")[0]
    assert table.count("<tr>") == ROWS_SHOWN + 1
    assert f"The first {ROWS_SHOWN:,} values are shown." in html


def test_the_drift_table_flags_features_past_their_thresholds(alice_client, alice_snapshot, alice):
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, {"data_drift": DRIFT}))
    table = html.split('class="table compact drift"')[1].split("</table>")[0]
    rows = re.findall(r"<tr( class=\"flagged\")?>\s*<td class=\"mono\">(\w+)</td>", table)
    assert rows == [("", "age"), (' class="flagged"', "income")]
    assert table.count('class="num warn"') == 3  # income's KS p-value, JS and PSI
    assert '<span class="badge badge-drift">drift</span>' in table
    assert "PSI by feature</title>" in html
    assert "<title>income: 0.45</title>" in html
    # the tests the table shows are not repeated; the summary is, under Data drift
    assert "<td>Summary</td><td>summary</td><td>baseline.age.mean</td>" in html
    assert "<td>Kolmogorov-Smirnov</td>" not in html


def test_shap_bars_are_drawn_beside_permutation_importance(alice_client, alice_snapshot, alice):
    interpretability = {
        "method": "permutation",
        "feature_importance": [{"feature": "a", "importance": 0.3, "std": 0.01}],
        "shap": {
            "method": "kernel", "rows_explained": 100,
            "feature_importance": [{"feature": "a", "mean_abs_shap": 0.21},
                                   {"feature": "b", "mean_abs_shap": 0.04}],
        },
    }  # fmt: skip
    html = _page(
        alice_client,
        make_metrics_job(alice_snapshot, alice, {"interpretability": interpretability}),
    )
    svgs = _svgs(html)
    assert len(svgs) == 2
    assert "Mean |SHAP value|</title>" in svgs[1] and "<title>b: 0.04</title>" in svgs[1]
    assert "100 rows explained" in html


def test_skipped_shap_says_why(alice_client, alice_snapshot, alice):
    metrics = {"interpretability": {"shap": {"skipped": "the model gives no probability"}}}
    html = _page(alice_client, make_metrics_job(alice_snapshot, alice, metrics))
    assert "No SHAP values: the model gives no probability" in html
