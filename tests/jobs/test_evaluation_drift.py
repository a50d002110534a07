"""Data drift in the built-in evaluator: KS, Jensen-Shannon and PSI per feature, checked against
scipy and by hand, and the flags against the thresholds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from jobs.runner.evaluation.drift import THRESHOLDS, data_drift, thresholds_of


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    baseline = pd.DataFrame(
        {
            "steady": rng.normal(0, 1, 2000),
            "shifted": rng.normal(0, 1, 2000),
            "colour": rng.choice(["red", "green", "blue"], 2000, p=[0.5, 0.3, 0.2]),
        }
    )
    sample = pd.DataFrame(
        {
            "steady": rng.normal(0, 1, 1500),
            "shifted": rng.normal(1.0, 1, 1500),
            "colour": rng.choice(["red", "green", "blue"], 1500, p=[0.2, 0.3, 0.5]),
        }
    )
    return baseline, sample


def _test(result: dict, test_type: str) -> dict:
    return next(t for t in result["data_drift"] if t["test_type"] == test_type)


def test_ks_values_are_scipys(frames):
    baseline, sample = frames
    result = data_drift(baseline, sample, features=["steady", "shifted", "colour"])
    ks = _test(result, "kolmogorov_smirnov")
    for feature in ("steady", "shifted"):
        expected = stats.ks_2samp(baseline[feature], sample[feature])
        assert ks["values"][feature] == pytest.approx(expected.pvalue)
        assert ks["statistics"][feature] == pytest.approx(expected.statistic)
        assert result[f"{feature}_ks_pvalue"] == pytest.approx(expected.pvalue)
        assert result[f"{feature}_ks_statistic"] == pytest.approx(expected.statistic)
    assert "colour" not in ks["values"]  # KS is for numerical features only
    assert ks["test_category"] == "data_drift" and ks["test_id"] == "data_drift_kolmogorov_smirnov"


def test_js_distance_is_scipys_on_the_same_bins(frames):
    baseline, sample = frames
    result = data_drift(baseline, sample, features=["shifted", "colour"])
    a, b = baseline["shifted"].to_numpy(), sample["shifted"].to_numpy()
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=10)
    p, q = np.histogram(a, edges)[0], np.histogram(b, edges)[0]
    expected = distance.jensenshannon(p / p.sum(), q / q.sum(), base=2)
    assert result["shifted_js_distance"] == pytest.approx(expected)
    categories = ["blue", "green", "red"]
    p = baseline["colour"].value_counts().reindex(categories).to_numpy()
    q = sample["colour"].value_counts().reindex(categories).to_numpy()
    expected = distance.jensenshannon(p / p.sum(), q / q.sum(), base=2)
    assert _test(result, "jensen_shannon")["values"]["colour"] == pytest.approx(expected)


def test_psi_is_the_sum_over_the_baselines_quantile_bins(frames):
    baseline, sample = frames
    result = data_drift(baseline, sample, features=["shifted", "colour"])
    cuts = sorted(set(np.quantile(baseline["shifted"], np.linspace(0, 1, 11)[1:-1])))
    pb = np.bincount(np.searchsorted(cuts, baseline["shifted"]), minlength=10) / len(baseline)
    ps = np.bincount(np.searchsorted(cuts, sample["shifted"]), minlength=10) / len(sample)
    pb, ps = np.maximum(pb, 1e-6), np.maximum(ps, 1e-6)
    assert result["shifted_PSI"] == pytest.approx(float(np.sum((ps - pb) * np.log(ps / pb))))
    shares_b = {"red": 0.0, "green": 0.0, "blue": 0.0}
    shares_b.update(baseline["colour"].value_counts(normalize=True).to_dict())
    shares_s = sample["colour"].value_counts(normalize=True).to_dict()
    expected = sum(
        (shares_s[c] - shares_b[c]) * math.log(shares_s[c] / shares_b[c]) for c in shares_b
    )
    assert _test(result, "psi")["values"]["colour"] == pytest.approx(expected)


def test_shifted_features_are_flagged_and_a_steady_one_is_not(frames):
    baseline, sample = frames
    result = data_drift(baseline, sample, features=["steady", "shifted", "colour"])
    assert result["shifted_drift"] is True and result["colour_drift"] is True
    assert result["steady_drift"] is False
    assert result["data_drift_features"] == ["shifted", "colour"]
    assert result["data_drift_count"] == 2
    flags = _test(result, "drift_flags")
    assert flags["values"] == {"steady": False, "shifted": True, "colour": True}
    assert set(flags["tests_crossed"]["shifted"]) == {"ks", "js", "psi"}
    assert _test(result, "psi")["flags"]["shifted"] is True
    assert _test(result, "psi")["threshold"] == THRESHOLDS["psi_threshold"]


def test_thresholds_come_from_the_job_parameters(frames):
    baseline, sample = frames
    lenient = thresholds_of({"ks_pvalue_threshold": 0.0, "js_threshold": 0.99, "psi_threshold": 99})
    result = data_drift(baseline, sample, features=["shifted"], thresholds=lenient)
    assert result["shifted_drift"] is False
    assert thresholds_of({"js_threshold": "high"}) == THRESHOLDS  # not a number: the default


def test_a_feature_missing_from_one_frame_is_left_out(frames):
    baseline, sample = frames
    result = data_drift(baseline, sample.drop(columns="steady"), features=["steady", "shifted"])
    assert "steady_PSI" not in result and "shifted_PSI" in result
