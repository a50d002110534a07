"""The ModelOp-compatible monitors package (modelop/) against scipy and scikit-learn called
directly, and ModelOp's output structure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance
from sklearn import metrics

from modelop import utils
from modelop.monitors.bias import BiasMonitor
from modelop.monitors.drift import ConceptDriftDetector, DriftDetector
from modelop.monitors.performance import ModelEvaluator
from modelop.monitors.stability import StabilityMonitor
from modelop.monitors.volumetrics import VolumetricMonitor
from modelop_sdk.utils import dashboard_utils
from tests.isolation import import_in_fresh_interpreter

TEST_KEYS = {"test_name", "test_category", "test_type", "test_id", "values"}


@pytest.fixture
def scored() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "colour": rng.choice(["red", "green", "blue"], n),
            "gender": rng.choice(["f", "m"], n, p=[0.4, 0.6]),
            "label": (x + rng.normal(scale=0.8, size=n) > 0).astype(int),
            "probability": 1 / (1 + np.exp(-2 * x)),
        }
    )
    frame["score"] = (frame["probability"] > 0.5).astype(int)
    return frame


@pytest.fixture
def baseline_and_sample(scored) -> tuple[pd.DataFrame, pd.DataFrame]:
    baseline = scored.iloc[:200].reset_index(drop=True)
    sample = scored.iloc[200:].reset_index(drop=True)
    sample["x"] = sample["x"] * 1.5 + 0.4
    return baseline, sample


def assert_structure(result: dict, category: str, test_type: str) -> dict:
    tests = result[category]
    assert isinstance(tests, list) and tests
    for test in tests:
        assert TEST_KEYS <= set(test)
        assert test["test_category"] == category and test["test_type"] == test_type
        assert test["test_id"] == f"{category}_{test_type}"
    return tests[0]


def test_classification_metrics_match_scikit_learn(scored):
    result = ModelEvaluator(
        scored, label_column="label", score_column="score", probability_column="probability"
    ).evaluate_performance(pre_defined_metrics="classification_metrics")

    test = assert_structure(result, "performance", "classification_metrics")
    y, s = scored["label"], scored["score"]
    assert result["accuracy"] == pytest.approx(metrics.accuracy_score(y, s))
    assert result["f1_score"] == pytest.approx(metrics.f1_score(y, s))
    assert result["precision"] == pytest.approx(metrics.precision_score(y, s))
    assert result["recall"] == pytest.approx(metrics.recall_score(y, s))
    assert result["auc"] == pytest.approx(metrics.roc_auc_score(y, scored["probability"]))
    assert test["values"]["auc"] == result["auc"]
    matrix = metrics.confusion_matrix(y, s, labels=[0, 1])
    assert test["values"]["confusion_matrix"] == [
        {"0": int(matrix[0, 0]), "1": int(matrix[0, 1])},
        {"0": int(matrix[1, 0]), "1": int(matrix[1, 1])},
    ]
    assert result["values"] is test["values"]  # a result also answers as its test object


def test_without_a_probability_the_auc_is_that_of_the_predicted_labels(scored):
    result = ModelEvaluator(scored, label_column="label", score_column="score")
    values = result.evaluate_performance("classification_metrics")
    assert values["auc"] == pytest.approx(metrics.roc_auc_score(scored["label"], scored["score"]))


def test_regression_metrics_match_scikit_learn(scored):
    result = ModelEvaluator(
        scored, label_column="x", score_column="probability"
    ).evaluate_performance(pre_defined_metrics="regression_metrics")

    assert_structure(result, "performance", "regression_metrics")
    y, p = scored["x"], scored["probability"]
    assert result["mae"] == pytest.approx(metrics.mean_absolute_error(y, p))
    assert result["rmse"] == pytest.approx(math.sqrt(metrics.mean_squared_error(y, p)))
    assert result["r2_score"] == pytest.approx(metrics.r2_score(y, p))


def test_an_unknown_metrics_set_is_refused_by_name(scored):
    with pytest.raises(ValueError, match="classification_metrics, regression_metrics"):
        ModelEvaluator(scored, label_column="label", score_column="score").evaluate_performance(
            "ranking_metrics"
        )


def test_bias_statistical_parity_matches_counts_by_hand(scored):
    result = BiasMonitor(
        scored,
        protected_class="gender",
        label_column="label",
        score_column="score",
        reference_group="m",
    ).compute_bias_metrics(pre_defined_test="aequitas_bias", thresholds={"min": 0.8, "max": 1.25})

    test = assert_structure(result, "bias", "aequitas_bias")
    assert test["reference_group"] == "m" and test["protected_class"] == "gender"
    predicted = scored["score"] == 1
    all_positive = predicted.sum()
    ppr = {g: predicted[scored.gender == g].sum() / all_positive for g in ("f", "m")}
    pprev = {g: predicted[scored.gender == g].mean() for g in ("f", "m")}
    rows = {row["attribute_value"]: row for row in test["values"]}
    assert rows["f"]["group_size"] == (scored.gender == "f").sum()
    assert rows["f"]["ppr_disparity"] == pytest.approx(ppr["f"] / ppr["m"])
    assert rows["f"]["pprev_disparity"] == pytest.approx(pprev["f"] / pprev["m"])
    assert result["gender_f_statistical_parity"] == pytest.approx(ppr["f"] / ppr["m"])
    assert result["gender_f_impact_parity"] == pytest.approx(pprev["f"] / pprev["m"])
    assert result["gender_m_statistical_parity"] == 1.0
    assert rows["f"]["Statistical Parity"] is bool(0.8 <= ppr["f"] / ppr["m"] <= 1.25)
    fp = ((scored.gender == "f") & predicted & (scored.label == 0)).sum()
    tn = ((scored.gender == "f") & ~predicted & (scored.label == 0)).sum()
    assert rows["f"]["fpr"] == pytest.approx(fp / (fp + tn))


def test_bias_group_metrics_give_one_row_per_group(scored):
    result = BiasMonitor(
        scored, protected_class="colour", label_column="label", score_column="score"
    ).compute_group_metrics(pre_defined_test="aequitas_group")
    test = assert_structure(result, "bias", "aequitas_group")
    assert sorted(r["attribute_value"] for r in test["values"]) == ["blue", "green", "red"]
    assert sum(r["group_size"] for r in test["values"]) == len(scored)


def test_kolmogorov_smirnov_gives_scipys_statistic_and_p_value(baseline_and_sample):
    baseline, sample = baseline_and_sample
    result = DriftDetector(
        baseline, sample, categorical_columns=["colour"], numerical_columns=["x"]
    ).calculate_drift(pre_defined_test="Kolmogorov-Smirnov", flattening_suffix="_ks_pvalue")

    test = assert_structure(result, "data_drift", "kolmogorov_smirnov")
    expected = stats.ks_2samp(baseline["x"], sample["x"])
    assert result["x_ks_pvalue"] == pytest.approx(expected.pvalue)
    assert test["values"] == {"x": pytest.approx(expected.pvalue)}
    assert test["statistics"]["x"] == pytest.approx(expected.statistic)


def test_jensen_shannon_distance_of_categorical_frequencies(baseline_and_sample):
    baseline, sample = baseline_and_sample
    result = DriftDetector(
        baseline, sample, categorical_columns=["colour"], numerical_columns=[]
    ).calculate_drift(pre_defined_test="Jensen-Shannon")

    categories = ["blue", "green", "red"]
    p = baseline["colour"].value_counts(normalize=True).reindex(categories, fill_value=0)
    q = sample["colour"].value_counts(normalize=True).reindex(categories, fill_value=0)
    assert result["colour_js_distance"] == pytest.approx(distance.jensenshannon(p, q, base=2))


def test_other_drift_tests_match_scipy(baseline_and_sample):
    baseline, sample = baseline_and_sample
    detector = DriftDetector(baseline, sample, numerical_columns=["x"], categorical_columns=[])
    ws = detector.calculate_drift("Wasserstein")
    es = detector.calculate_drift("Epps-Singleton", flattening_suffix="_es")
    kl = detector.calculate_drift("Kullback-Leibler")
    assert ws["x_ws_distance"] == pytest.approx(stats.wasserstein_distance(baseline.x, sample.x))
    assert es["x_es"] == pytest.approx(stats.epps_singleton_2samp(baseline.x, sample.x).pvalue)
    edges = np.histogram_bin_edges(np.concatenate([baseline.x, sample.x]), bins=10)
    p = np.histogram(baseline.x, bins=edges)[0] / len(baseline)
    q = np.histogram(sample.x, bins=edges)[0] / len(sample)
    expected = stats.entropy(np.maximum(q, 1e-6), np.maximum(p, 1e-6))
    assert kl["x_kl_divergence"] == pytest.approx(expected)
    summary = detector.calculate_drift("Summary")
    values = assert_structure(summary, "data_drift", "summary")["values"]
    assert values["sample"]["x"]["mean"] == pytest.approx(sample.x.mean())


def test_concept_drift_tests_the_score_column(baseline_and_sample):
    baseline, sample = baseline_and_sample
    result = ConceptDriftDetector(
        baseline, sample, target_column="probability", label_type="numerical"
    ).calculate_concept_drift(pre_defined_test="Kolmogorov-Smirnov")
    assert_structure(result, "concept_drift", "kolmogorov_smirnov")
    expected = stats.ks_2samp(baseline.probability, sample.probability).pvalue
    assert result["probability_ks_pvalue"] == pytest.approx(expected)


def psi_by_hand(baseline: pd.Series, sample: pd.Series, cuts: list[float]) -> float:
    edges = [-np.inf, *cuts, np.inf]
    b = pd.cut(baseline, edges, right=True).value_counts(normalize=True, sort=False)
    s = pd.cut(sample, edges, right=True).value_counts(normalize=True, sort=False)
    b, s = np.maximum(b.to_numpy(), 1e-6), np.maximum(s.to_numpy(), 1e-6)
    return float(np.sum((s - b) * np.log(s / b)))


def test_psi_on_given_cuts_matches_the_formula_by_hand(baseline_and_sample):
    baseline, sample = baseline_and_sample
    cuts = [-1.0, 0.0, 0.5, 1.0]
    result = StabilityMonitor(
        baseline, sample, predictors=["x", "colour"], score_column="probability"
    ).compute_stability_indices(n_groups=4, group_cuts={"x": cuts, "probability": [0.5]})

    test = assert_structure(result, "stability", "stability_analysis")
    assert result["x_PSI"] == pytest.approx(psi_by_hand(baseline.x, sample.x, cuts))
    assert result["x_CSI"] == result["x_PSI"]
    assert result["probability_PSI"] == pytest.approx(
        psi_by_hand(baseline.probability, sample.probability, [0.5])
    )
    assert "probability_CSI" not in result
    b = baseline.colour.value_counts(normalize=True)
    s = sample.colour.value_counts(normalize=True)
    assert result["colour_PSI"] == pytest.approx(float(((s - b) * np.log(s / b)).sum()))
    bins = test["values"]["x"]["bins"]
    assert [row["bin"] for row in bins][0] == "(-inf, -1]" and len(bins) == 5
    assert sum(row["baseline_count"] for row in bins) == len(baseline)


def test_psi_bins_default_to_the_baselines_quantiles(baseline_and_sample):
    baseline, sample = baseline_and_sample
    result = StabilityMonitor(baseline, sample, predictors=["x"]).compute_stability_indices(
        n_groups=5
    )
    bins = result["stability"][0]["values"]["x"]["bins"]
    assert [row["baseline_count"] for row in bins] == [40] * 5
    cuts = list(np.quantile(baseline.x, [0.2, 0.4, 0.6, 0.8]))
    assert result["x_PSI"] == pytest.approx(psi_by_hand(baseline.x, sample.x, cuts))


def test_special_values_and_missing_values_are_bins_of_their_own():
    baseline = pd.DataFrame({"x": [1.0, 2.0, 3.0, -999.0, None, 4.0]})
    sample = pd.DataFrame({"x": [1.0, -999.0, -999.0, 3.0, None, None]})
    result = StabilityMonitor(
        baseline, sample, predictors=["x"], special_values={"x": [-999.0]}
    ).compute_stability_indices(group_cuts={"x": [2.5]})
    bins = {row["bin"]: row for row in result["stability"][0]["values"]["x"]["bins"]}
    assert bins["special -999.0"]["sample_count"] == 2 and bins["missing"]["sample_count"] == 2
    assert bins["(-inf, 2.5]"]["baseline_count"] == 2


def test_volumetrics_counts_one_frame_and_compares_two(baseline_and_sample):
    baseline, sample = baseline_and_sample
    one = VolumetricMonitor(baseline).count()
    assert one["record_count"] == 200
    assert_structure(one, "volumetrics", "count")
    two = VolumetricMonitor(baseline, sample.iloc[:150]).count()
    assert two["record_count_2"] == 150 and two["identical_record_count"] is False
    assert VolumetricMonitor(dataframe=sample).count()["record_count"] == 200
    keywords = VolumetricMonitor(df_baseline=baseline, df_sample=sample).count()
    assert keywords["identical_record_count"] is True


def test_merge_concatenates_category_arrays_and_keeps_flat_keys(baseline_and_sample, scored):
    baseline, sample = baseline_and_sample
    detector = DriftDetector(baseline, sample, numerical_columns=["x"], categorical_columns=[])
    performance = ModelEvaluator(scored, label_column="label", score_column="score")
    merged = utils.merge(
        detector.calculate_drift("Kolmogorov-Smirnov"),
        detector.calculate_drift("Jensen-Shannon"),
        performance.evaluate_performance("classification_metrics")["performance"][0],
    )
    assert [t["test_type"] for t in merged["data_drift"]] == [
        "kolmogorov_smirnov",
        "jensen_shannon",
    ]
    assert "x_ks_pvalue" in merged and "x_js_distance" in merged and "auc" in merged
    assert len(merged["performance"]) == 1


def test_configure_logger_gives_one_handler_however_often_called():
    logger = utils.configure_logger()
    assert utils.configure_logger() is logger and len(logger.handlers) == 1


def test_dashboard_utils_build_chart_objects():
    bar = dashboard_utils.generic_bar_graph(
        {"baseline": [1, 2]}, ["a", "b"], title="t", x_axis_label="x", y_axis_label="y"
    )
    assert bar == {
        "generic_bar_graph": {
            "title": "t", "x_axis_label": "x", "y_axis_label": "y", "rotated": False,
            "data": {"baseline": [1, 2]}, "categories": ["a", "b"],
        }
    }  # fmt: skip
    line = dashboard_utils.generic_line_graph({"auc": [(1, 0.7), (2, np.float64(0.8))]})
    assert line["generic_line_graph"]["data"] == {"auc": [[1, 0.7], [2, 0.8]]}
    assert "horizontal_bar_graph" in dashboard_utils.horizontal_bar_graph({"s": [1]}, ["a"])
    assert dashboard_utils.generic_table([{"a": np.int64(1)}]) == {"generic_table": [{"a": 1}]}
    with pytest.raises(ValueError, match="2 categories"):
        dashboard_utils.generic_bar_graph({"s": [1]}, ["a", "b"])


def test_the_package_never_imports_django():
    """It runs in the sandboxed model process: a fresh interpreter imports every module of
    modelop and modelop_sdk and looks."""
    count, server = import_in_fresh_interpreter("modelop", "modelop_sdk")
    assert count >= 10 and server == []
