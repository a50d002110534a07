"""Data drift of the input features, baseline against sample, for the built-in evaluator.

The numbers are those of the modelop package (both run in the model process): the
Kolmogorov-Smirnov p-value and statistic of every numerical feature, the Jensen-Shannon
distance (base 2) of every feature's frequencies (a categorical feature's values, a numerical
one's 10 equal-width bins over both frames' range), and the PSI of every feature on the
baseline's quantile bins (modelop.monitors.stability). A feature drifts when any test crosses
its threshold (job parameters: ks_pvalue_threshold, js_threshold, psi_threshold).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from jobs.runner.evaluation.values import native
from modelop.monitors._common import test_object
from modelop.monitors.drift import DriftDetector
from modelop.monitors.stability import StabilityMonitor

THRESHOLDS = {"ks_pvalue_threshold": 0.05, "js_threshold": 0.1, "psi_threshold": 0.2}
MAX_FEATURES = 500  # a wider frame's other columns are left out, with a note


def thresholds_of(params: dict) -> dict[str, float]:
    found = {}
    for key, default in THRESHOLDS.items():
        value = params.get(key, default)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        found[key] = float(value) if is_number else default
    return found


def data_drift(
    baseline: pd.DataFrame,
    sample: pd.DataFrame,
    *,
    features: list[str],
    thresholds: dict[str, float] | None = None,
) -> dict:
    """The data_drift test objects, flat keys (<feature>_ks_pvalue, _ks_statistic,
    _js_distance, _PSI, _drift) and the features that drift."""
    limits = {**THRESHOLDS, **(thresholds or {})}
    shared = [f for f in features if f in baseline.columns and f in sample.columns]
    note = ""
    if len(shared) > MAX_FEATURES:
        note = f"drift of the first {MAX_FEATURES} of {len(shared)} features"
        shared = shared[:MAX_FEATURES]
    numerical = [f for f in shared if _numeric(baseline[f]) and _numeric(sample[f])]
    categorical = [f for f in shared if f not in numerical]
    detector = DriftDetector(
        baseline, sample, categorical_columns=categorical, numerical_columns=numerical
    )
    ks = detector.calculate_drift("Kolmogorov-Smirnov")["data_drift"][0]
    js = detector.calculate_drift("Jensen-Shannon")["data_drift"][0]
    stability = StabilityMonitor(baseline, sample, predictors=shared).compute_stability_indices()
    psi = {f: v["stability_index"] for f, v in stability["stability"][0]["values"].items()}

    ks_p, ks_stat, js_d = ks["values"], ks.get("statistics", {}), js["values"]
    flags: dict[str, list[str]] = {}
    for feature in shared:
        crossed = []
        if _below(ks_p.get(feature), limits["ks_pvalue_threshold"]):
            crossed.append("ks")
        if _above(js_d.get(feature), limits["js_threshold"]):
            crossed.append("js")
        if _above(psi.get(feature), limits["psi_threshold"]):
            crossed.append("psi")
        flags[feature] = crossed
    drifted = [f for f in shared if flags[f]]

    def tested(name: str, test_type: str, values: dict, **extra: Any) -> dict:
        return test_object(
            name=name, category="data_drift", test_type=test_type, values=values, **extra
        )

    tests = [
        tested(
            "Kolmogorov-Smirnov", "kolmogorov_smirnov", ks_p, statistics=ks_stat,
            threshold=limits["ks_pvalue_threshold"],
            flags={f: "ks" in flags[f] for f in numerical},
        ),
        tested(
            "Jensen-Shannon", "jensen_shannon", js_d, threshold=limits["js_threshold"],
            flags={f: "js" in flags[f] for f in shared},
        ),
        tested(
            "Population Stability Index", "psi", psi, threshold=limits["psi_threshold"],
            flags={f: "psi" in flags[f] for f in shared},
        ),
        tested(
            "Drift Flags", "drift_flags", {f: bool(flags[f]) for f in shared},
            tests_crossed={f: flags[f] for f in drifted}, thresholds=limits,
        ),
    ]  # fmt: skip
    flat: dict[str, Any] = {}
    for feature in shared:
        if feature in numerical:
            flat[f"{feature}_ks_pvalue"] = ks_p.get(feature)
            flat[f"{feature}_ks_statistic"] = ks_stat.get(feature)
        flat[f"{feature}_js_distance"] = js_d.get(feature)
        flat[f"{feature}_PSI"] = psi.get(feature)
        flat[f"{feature}_drift"] = bool(flags[feature])
    result = {
        **flat,
        "data_drift": tests,
        "data_drift_features": drifted,
        "data_drift_count": len(drifted),
    }
    if note:
        result["data_drift_note"] = note
    return native(result)


def drift_features(baseline: pd.DataFrame, sample: pd.DataFrame, *, exclude: set[str]) -> list:
    return [c for c in baseline.columns if c in sample.columns and c not in exclude]


def _below(value: object, limit: float) -> bool:
    return isinstance(value, float | int) and value < limit


def _above(value: object, limit: float) -> bool:
    return isinstance(value, float | int) and value > limit


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
