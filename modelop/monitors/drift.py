"""DriftDetector (data drift of input features) and ConceptDriftDetector (drift of the score or
label), baseline against sample, with scipy.

Tests and the flat key suffix each adds by default (flattening_suffix overrides it):
- "Kolmogorov-Smirnov": two-sample KS p-value per numerical column (scipy.stats.ks_2samp),
  "_ks_pvalue"; the test object also holds each statistic under "statistics".
- "Epps-Singleton": p-value per numerical column (scipy.stats.epps_singleton_2samp),
  "_es_pvalue"; None where the test cannot run (too few distinct values).
- "Jensen-Shannon": distance (scipy.spatial.distance.jensenshannon, base 2, so 0..1) between
  the two frequency distributions, "_js_distance".
- "Kullback-Leibler": KL(sample || baseline) (scipy.stats.entropy) of the frequencies, zero
  frequencies raised to 1e-6 first, "_kl_divergence".
- "Wasserstein": distance per numerical column (scipy.stats.wasserstein_distance),
  "_ws_distance".
- "Summary": pandas describe() of both frames (no flat keys).
Frequencies: a categorical column's values (the union of both frames'); a numerical column's
counts in 10 equal-width bins over the two frames' joint range (n_bins=). Missing values are
left out.

Unsure: ModelOp's exact binning and KL direction; which tests it applies to categorical
columns (here JS and KL cover both kinds, KS, ES and Wasserstein numerical ones).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from modelop.monitors._common import MonitorResult, columns, result, test_object

N_BINS = 10
KL_FLOOR = 1e-6

_TESTS = {  # name: (test_type, default flat suffix, kinds of column)
    "Kolmogorov-Smirnov": ("kolmogorov_smirnov", "_ks_pvalue", ("numerical",)),
    "Epps-Singleton": ("epps_singleton", "_es_pvalue", ("numerical",)),
    "Jensen-Shannon": ("jensen_shannon", "_js_distance", ("numerical", "categorical")),
    "Kullback-Leibler": ("kullback_leibler", "_kl_divergence", ("numerical", "categorical")),
    "Wasserstein": ("wasserstein", "_ws_distance", ("numerical",)),
    "Summary": ("summary", "", ("numerical", "categorical")),
}


def _test(name: str) -> tuple[str, str, tuple[str, ...]]:
    if name not in _TESTS:
        raise ValueError(f"unknown pre_defined_test {name!r}; use one of {', '.join(_TESTS)}")
    return _TESTS[name]


class DriftDetector:
    def __init__(
        self,
        df_baseline: pd.DataFrame,
        df_sample: pd.DataFrame,
        job_json: dict | None = None,
        categorical_columns: list[str] | None = None,
        numerical_columns: list[str] | None = None,
        **_ignored: Any,
    ) -> None:
        self.df_baseline, self.df_sample = df_baseline, df_sample
        found = columns(
            job_json,
            {"categorical_columns": categorical_columns, "numerical_columns": numerical_columns},
        )
        if job_json is None and categorical_columns is None and numerical_columns is None:
            found = _guess(df_baseline, df_sample)
        both = [c for c in df_baseline.columns if c in df_sample.columns]
        self.categorical_columns = [c for c in found["categorical_columns"] or [] if c in both]
        self.numerical_columns = [c for c in found["numerical_columns"] or [] if c in both]

    def calculate_drift(
        self,
        pre_defined_test: str = "Summary",
        user_defined_test: Any = None,
        result_wrapper_key: str = "data_drift",
        flattening_suffix: str | None = None,
        n_bins: int = N_BINS,
        **_ignored: Any,
    ) -> MonitorResult:
        if user_defined_test is not None:
            raise ValueError("user_defined_test is not supported; call your own function")
        test_type, suffix, kinds = _test(pre_defined_test)
        kinds_of = {"numerical": self.numerical_columns, "categorical": self.categorical_columns}
        chosen = {c: kind for kind in kinds for c in kinds_of[kind]}
        return drift_result(
            self.df_baseline, self.df_sample, chosen, name=pre_defined_test,
            category=result_wrapper_key, test_type=test_type,
            suffix=suffix if flattening_suffix is None else flattening_suffix, n_bins=n_bins,
        )  # fmt: skip


class ConceptDriftDetector:
    """Drift of one output column: target_column (default: the schema's score column) of
    label_type "categorical" (default) or "numerical"."""

    def __init__(
        self,
        df_baseline: pd.DataFrame,
        df_sample: pd.DataFrame,
        job_json: dict | None = None,
        target_column: str | None = None,
        label_type: str | None = None,
        **_ignored: Any,
    ) -> None:
        self.df_baseline, self.df_sample = df_baseline, df_sample
        found = columns(job_json, {"score_column": target_column, "score_type": label_type})
        self.target_column = found["score_column"]
        self.label_type = found["score_type"] or "categorical"
        if self.label_type not in ("categorical", "numerical"):
            raise ValueError("label_type is 'categorical' or 'numerical'")
        for frame, where in ((df_baseline, "baseline"), (df_sample, "sample")):
            if not self.target_column or self.target_column not in frame.columns:
                raise ValueError(
                    f"the target column {self.target_column!r} is not in the {where} "
                    f"(pass target_column= or a job_json with a score field)"
                )

    def calculate_concept_drift(
        self,
        pre_defined_test: str = "Summary",
        user_defined_test: Any = None,
        result_wrapper_key: str = "concept_drift",
        flattening_suffix: str | None = None,
        n_bins: int = N_BINS,
        **_ignored: Any,
    ) -> MonitorResult:
        if user_defined_test is not None:
            raise ValueError("user_defined_test is not supported; call your own function")
        test_type, suffix, kinds = _test(pre_defined_test)
        kind = self.label_type
        if kind not in kinds:  # a categorical target under a numerical-only test: its codes
            kind = "numerical"
        return drift_result(
            self.df_baseline, self.df_sample, {self.target_column: kind},
            name=pre_defined_test, category=result_wrapper_key, test_type=test_type,
            suffix=suffix if flattening_suffix is None else flattening_suffix, n_bins=n_bins,
        )  # fmt: skip


def drift_result(
    baseline: pd.DataFrame,
    sample: pd.DataFrame,
    chosen: dict[str, str],
    *,
    name: str,
    category: str,
    test_type: str,
    suffix: str,
    n_bins: int,
) -> MonitorResult:
    if test_type == "summary":
        values = {
            "baseline": _describe(baseline, list(chosen)),
            "sample": _describe(sample, list(chosen)),
        }
        return result(test_object(name=name, category=category, test_type=test_type,
                                  values=values), wrapper=category)  # fmt: skip
    values, statistics = {}, {}
    for column, kind in chosen.items():
        a, b = baseline[column].dropna(), sample[column].dropna()
        if kind == "numerical" and not (_numeric(a) and _numeric(b)):
            a, b = _codes(a, b)
        if not len(a) or not len(b):
            values[column] = None
            continue
        if test_type == "kolmogorov_smirnov":
            outcome = stats.ks_2samp(a.astype(float), b.astype(float))
            values[column], statistics[column] = outcome.pvalue, outcome.statistic
        elif test_type == "epps_singleton":
            try:
                outcome = stats.epps_singleton_2samp(a.astype(float), b.astype(float))
                values[column], statistics[column] = outcome.pvalue, outcome.statistic
            except (ValueError, np.linalg.LinAlgError):
                values[column] = None
        elif test_type == "wasserstein":
            values[column] = stats.wasserstein_distance(a.astype(float), b.astype(float))
        else:
            p, q = frequencies(a, b, kind=kind, n_bins=n_bins)  # baseline, sample
            if test_type == "jensen_shannon":
                values[column] = distance.jensenshannon(p, q, base=2)
            else:
                values[column] = stats.entropy(np.maximum(q, KL_FLOOR), np.maximum(p, KL_FLOOR))
    extra = {"statistics": statistics} if statistics else {}
    test = test_object(name=name, category=category, test_type=test_type, values=values, **extra)
    flat = {f"{column}{suffix}": value for column, value in test["values"].items()}
    return result(test, flat, wrapper=category)


def frequencies(
    baseline: pd.Series, sample: pd.Series, *, kind: str, n_bins: int = N_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Relative frequencies of both, on the same categories or bins."""
    if kind == "categorical":
        a, b = baseline.astype(str), sample.astype(str)
        categories = sorted(set(a) | set(b))
        p = a.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
        q = b.value_counts().reindex(categories, fill_value=0).to_numpy(dtype=float)
    else:
        a, b = baseline.astype(float).to_numpy(), sample.astype(float).to_numpy()
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=n_bins)
        p = np.histogram(a, bins=edges)[0].astype(float)
        q = np.histogram(b, bins=edges)[0].astype(float)
    return p / p.sum(), q / q.sum()


def _describe(frame: pd.DataFrame, chosen: list[str]) -> dict:
    out = {}
    for column in chosen:
        if column in frame.columns:
            described = frame[column].describe()
            out[column] = {str(k): v for k, v in described.items()}
    return out


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _codes(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Categories as integer codes shared by both (sorted as text)."""
    categories = sorted(set(a.astype(str)) | set(b.astype(str)))
    code = {c: i for i, c in enumerate(categories)}
    return a.astype(str).map(code), b.astype(str).map(code)


def _guess(baseline: pd.DataFrame, sample: pd.DataFrame) -> dict:
    numerical, categorical = [], []
    for column in baseline.columns:
        if column in sample.columns:
            (numerical if _numeric(baseline[column]) else categorical).append(column)
    return {"numerical_columns": numerical, "categorical_columns": categorical}
