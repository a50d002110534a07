"""BiasMonitor: group fairness in the manner of Aequitas (which ModelOp's bias monitors use),
computed here from counts.

Per group of a protected class: counts (group_size, pp, pn, tp, fp, tn, fn), rates (tpr, tnr,
fpr, fnr, precision, npv, fdr, for, ppr = the group's share of all predicted positives,
pprev = predicted positives / group size, prev), each rate's disparity (the group's over the
reference group's), and parity flags: a disparity within thresholds (min 0.8, max 1.25 by
default). Aequitas' names: "Statistical Parity" is ppr_disparity, "Impact Parity"
pprev_disparity. Flat keys: <class>_<group>_statistical_parity (the ppr disparity) and
<class>_<group>_impact_parity (the pprev disparity).

Unsure: ModelOp's exact flat key names, and its handling of a score that is not a label
(here the score column must hold predicted labels; compare with positive_label). No
significance tests.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from jobs.runner.evaluation.classification import default_positive_label
from jobs.runner.evaluation.values import native
from modelop.monitors._common import MonitorResult, columns, require, test_object

DEFAULT_THRESHOLDS = {"min": 0.8, "max": 1.25}
RATES = ("tpr", "tnr", "fpr", "fnr", "precision", "npv", "fdr", "for", "ppr", "pprev")
PARITIES = {
    "Statistical Parity": "ppr_disparity",
    "Impact Parity": "pprev_disparity",
    "FPR Parity": "fpr_disparity",
    "FNR Parity": "fnr_disparity",
    "TPR Parity": "tpr_disparity",
    "TNR Parity": "tnr_disparity",
    "Precision Parity": "precision_disparity",
    "NPV Parity": "npv_disparity",
    "FDR Parity": "fdr_disparity",
    "FOR Parity": "for_disparity",
}


class BiasMonitor:
    def __init__(
        self,
        dataframe: pd.DataFrame,
        job_json: dict | None = None,
        protected_class: str | list[str] | None = None,
        label_column: str | None = None,
        score_column: str | None = None,
        reference_group: Any = None,
        positive_label: Any = None,
        **_ignored: Any,
    ) -> None:
        self.dataframe = dataframe
        found = columns(
            job_json,
            {
                "label_column": label_column,
                "score_column": score_column,
                "protected_classes": [protected_class]
                if isinstance(protected_class, str)
                else protected_class,
            },
        )
        self.label_column = found["label_column"]
        self.score_column = found["score_column"]
        self.protected_classes = list(found["protected_classes"] or [])
        self.reference_group = reference_group
        self.positive_label = positive_label

    def compute_group_metrics(
        self, pre_defined_test: str = "aequitas_group", **_ignored: Any
    ) -> MonitorResult:
        _known(pre_defined_test, "aequitas_group")
        tests = [
            test_object(
                name="Aequitas Group",
                category="bias",
                test_type="aequitas_group",
                values=rows,
                protected_class=attribute,
            )  # fmt: skip
            for attribute, rows in self._groups()
        ]
        return MonitorResult({"bias": tests})

    def compute_bias_metrics(
        self,
        pre_defined_test: str = "aequitas_bias",
        thresholds: dict | None = None,
        **_ignored: Any,
    ) -> MonitorResult:
        _known(pre_defined_test, "aequitas_bias")
        thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        low, high = float(thresholds["min"]), float(thresholds["max"])
        tests, flat = [], {}
        for attribute, rows in self._groups():
            reference = self._reference(attribute, rows)
            ref = next(r for r in rows if r["attribute_value"] == reference)
            for row in rows:
                for rate in RATES:
                    row[f"{rate}_disparity"] = _ratio(row[rate], ref[rate])
                for parity, disparity in PARITIES.items():
                    value = row[disparity]
                    row[parity] = None if value is None else low <= value <= high
                prefix = f"{attribute}_{row['attribute_value']}"
                flat[f"{prefix}_statistical_parity"] = row["ppr_disparity"]
                flat[f"{prefix}_impact_parity"] = row["pprev_disparity"]
            tests.append(
                test_object(
                    name="Aequitas Bias",
                    category="bias",
                    test_type="aequitas_bias",
                    values=rows,
                    protected_class=attribute,
                    reference_group=reference,
                    thresholds={"min": low, "max": high},
                )  # fmt: skip
            )
        return MonitorResult({**native(flat), "bias": tests})

    # --- counts per group ----------------------------------------------------------------

    def _groups(self) -> list[tuple[str, list[dict]]]:
        frame = self.dataframe
        label = require(frame, self.label_column, "label_column", "dataframe")
        score = require(frame, self.score_column, "score_column", "dataframe")
        if not self.protected_classes:
            raise ValueError(
                "no protected_class: pass one or a job_json whose input schema marks "
                'fields "protectedClass": true'
            )
        frame = frame[frame[label].notna() & frame[score].notna()]
        positive = self._positive(frame[label], frame[score])
        actual, predicted = _is(frame[label], positive), _is(frame[score], positive)
        all_pp = int(predicted.sum())
        out = []
        for attribute in self.protected_classes:
            require(frame, attribute, "protected class", "dataframe")
            rows = []
            for group, index in frame.groupby(attribute, sort=True).groups.items():
                a, p = actual.loc[index], predicted.loc[index]
                tp, fp = int((a & p).sum()), int((~a & p).sum())
                fn, tn = int((a & ~p).sum()), int((~a & ~p).sum())
                n, pp, pn = len(index), tp + fp, fn + tn
                rows.append(
                    {
                        "attribute_name": attribute, "attribute_value": _plain(group),
                        "group_size": n, "pp": pp, "pn": pn, "tp": tp, "fp": fp, "tn": tn,
                        "fn": fn, "label_pos": tp + fn, "label_neg": fp + tn,
                        "tpr": _ratio(tp, tp + fn), "tnr": _ratio(tn, tn + fp),
                        "fpr": _ratio(fp, fp + tn), "fnr": _ratio(fn, fn + tp),
                        "precision": _ratio(tp, pp), "npv": _ratio(tn, pn),
                        "fdr": _ratio(fp, pp), "for": _ratio(fn, pn),
                        "ppr": _ratio(pp, all_pp), "pprev": _ratio(pp, n),
                        "prev": _ratio(tp + fn, n),
                    }
                )  # fmt: skip
            out.append((attribute, rows))
        return out

    def _positive(self, labels: pd.Series, scores: pd.Series) -> Any:
        if self.positive_label is not None:
            return self.positive_label
        values = sorted({*labels.tolist(), *scores.tolist()}, key=str)
        return default_positive_label(values)

    def _reference(self, attribute: str, rows: list[dict]) -> Any:
        """The reference_group given (a value, or {class: value}), else the largest group."""
        wanted = self.reference_group
        if isinstance(wanted, dict):
            wanted = wanted.get(attribute)
        if wanted is not None:
            for row in rows:
                if _same(row["attribute_value"], wanted):
                    return row["attribute_value"]
            raise ValueError(f"the reference group {wanted!r} is not a value of '{attribute}'")
        return max(rows, key=lambda r: r["group_size"])["attribute_value"]


def _known(given: str, expected: str) -> None:
    if given != expected:
        raise ValueError(f"unknown pre_defined_test {given!r}; use {expected!r}")


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _is(series: pd.Series, wanted: Any) -> pd.Series:
    """Which values are WANTED; a label typed in a form ("1") matches 1."""
    return ((series == wanted) | (series.astype(str) == str(wanted))).astype(bool)


def _same(value: Any, wanted: Any) -> bool:
    return value == wanted or str(value) == str(wanted)


def _plain(group: Any) -> Any:
    if isinstance(group, tuple) and len(group) == 1:
        group = group[0]
    return native(group)
