"""StabilityMonitor: population stability index (PSI) of every predictor and of the score,
baseline against sample.

PSI = sum over bins of (s - b) * ln(s / b), b and s the shares of the baseline's and the
sample's records in the bin (a share of 0 counts as 1e-6). Bins: a categorical column's
values; a numerical column's n_groups quantile groups of the baseline (cut points at its
quantiles, bin i = (cut[i-1], cut[i]]), or the cut points given in group_cuts
({column: [c1, c2, ...]}); every special value of the schema (specialValues) and missing
values are bins of their own. Per column the test object holds the index and its bins (counts,
shares and each bin's contribution); flat keys: <column>_PSI, and for a predictor also
<column>_CSI (the characteristic stability index, the same formula on an input feature).

Unsure: ModelOp's bin edges (inclusive side), its flat key names, its handling of weights
(none here).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from modelop.monitors._common import MonitorResult, columns, result, test_object

FLOOR = 1e-6


class StabilityMonitor:
    def __init__(
        self,
        df_baseline: pd.DataFrame,
        df_sample: pd.DataFrame,
        job_json: dict | None = None,
        predictors: list[str] | None = None,
        feature_dataclass: dict[str, str] | None = None,
        special_values: dict[str, list] | None = None,
        score_column: str | None = None,
        label_column: str | None = None,
        weight_column: str | None = None,
        **_ignored: Any,
    ) -> None:
        self.df_baseline, self.df_sample = df_baseline, df_sample
        found = columns(
            job_json,
            {
                "predictors": predictors,
                "feature_dataclass": feature_dataclass,
                "special_values": special_values,
                "score_column": score_column,
            },
        )
        both = [c for c in df_baseline.columns if c in df_sample.columns]
        if found["predictors"] is None:  # nothing given: every shared column but the score
            found["predictors"] = [c for c in both if c not in (score_column, label_column)]
        self.predictors = [c for c in found["predictors"] if c in both]
        self.score_column = found["score_column"] if found["score_column"] in both else None
        self.feature_dataclass = dict(found["feature_dataclass"] or {})
        self.special_values = dict(found["special_values"] or {})

    def compute_stability_indices(
        self,
        n_groups: int = 10,
        group_cuts: dict[str, list[float]] | None = None,
        result_wrapper_key: str = "stability",
        **_ignored: Any,
    ) -> MonitorResult:
        group_cuts = group_cuts or {}
        values, flat = {}, {}
        chosen = [*self.predictors]
        if self.score_column and self.score_column not in chosen:
            chosen.append(self.score_column)
        for column in chosen:
            index, bins = self._index(column, n_groups, group_cuts.get(column))
            kind = "predictor" if column in self.predictors else "score"
            values[column] = {"stability_index": index, "role": kind, "bins": bins}
            flat[f"{column}_PSI"] = index
            if kind == "predictor":
                flat[f"{column}_CSI"] = index
        test = test_object(
            name="Stability Analysis", category=result_wrapper_key,
            test_type="stability_analysis", values=values, n_groups=n_groups,
        )  # fmt: skip
        return result(test, flat, wrapper=result_wrapper_key)

    def _index(self, column: str, n_groups: int, cuts: list[float] | None):
        a, b = self.df_baseline[column], self.df_sample[column]
        specials = self.special_values.get(column, [])
        kind = self.feature_dataclass.get(column) or (
            "numerical" if _numeric(a) and _numeric(b) else "categorical"
        )
        if kind == "numerical" and cuts is None:
            plain = a[a.notna() & ~a.isin(specials)].astype(float)
            cuts = quantile_cuts(plain, n_groups) if len(plain) else []
        labels_a = bin_labels(a, kind=kind, cuts=cuts, specials=specials)
        labels_b = bin_labels(b, kind=kind, cuts=cuts, specials=specials)
        return psi_of(labels_a, labels_b)


def quantile_cuts(values: pd.Series, n_groups: int) -> list[float]:
    """Interior cut points at the baseline's quantiles (duplicates dropped)."""
    qs = np.quantile(values.to_numpy(dtype=float), np.linspace(0, 1, n_groups + 1)[1:-1])
    return sorted(set(float(q) for q in qs))


def bin_labels(
    series: pd.Series, *, kind: str, cuts: list[float] | None, specials: list
) -> pd.Series:
    """One bin name per record."""
    special = series.isin(specials) if specials else pd.Series(False, index=series.index)
    missing = series.isna()
    out = pd.Series("", index=series.index, dtype=object)
    if kind == "categorical":
        out[:] = series.astype(str)
    else:
        edges = sorted(float(c) for c in (cuts or []))
        plain = ~missing & ~special
        positions = np.searchsorted(edges, series[plain].astype(float).to_numpy(), side="left")
        out[plain] = [_interval(edges, i) for i in positions]
    out[special] = ["special " + str(v) for v in series[special]]
    out[missing] = "missing"
    return out


def psi_of(baseline: pd.Series, sample: pd.Series) -> tuple[float | None, list[dict]]:
    nb, ns = len(baseline), len(sample)
    if not nb or not ns:
        return None, []
    counts_b, counts_s = baseline.value_counts(), sample.value_counts()
    names = sorted(set(counts_b.index) | set(counts_s.index), key=_bin_order)
    total, bins = 0.0, []
    for name in names:
        cb, cs = int(counts_b.get(name, 0)), int(counts_s.get(name, 0))
        pb, ps = max(cb / nb, FLOOR), max(cs / ns, FLOOR)
        part = (ps - pb) * math.log(ps / pb)
        total += part
        bins.append(
            {
                "bin": name, "baseline_count": cb, "sample_count": cs,
                "baseline_percent": cb / nb, "sample_percent": cs / ns, "psi": part,
            }
        )  # fmt: skip
    return total, bins


def _interval(edges: list[float], i: int) -> str:
    low = f"({edges[i - 1]:g}" if i > 0 else "(-inf"
    high = f"{edges[i]:g}]" if i < len(edges) else "inf)"
    return f"{low}, {high}"


def _bin_order(name: str) -> tuple:
    if name.startswith("(-inf"):
        return (0, -math.inf, name)
    if name.startswith("(") and "," in name:
        try:
            return (0, float(name[1:].split(",")[0]), name)
        except ValueError:
            pass
    return (1, 0.0, name)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
