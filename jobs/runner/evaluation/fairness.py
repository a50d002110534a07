"""Group fairness per protected attribute: rates per group against the largest group."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn import metrics

from jobs.runner.evaluation.values import native

# Disparate impact outside this range is flagged (the four-fifths rule, both ways).
DISPARATE_IMPACT_RANGE = (0.8, 1.25)


def bias_metrics(
    frame: pd.DataFrame,
    *,
    label: str,
    score: str,
    protected: list[str],
    positive_label: Any,
) -> list[dict]:
    rows = []
    for attribute in protected:
        rates = {}
        for group, part in frame.groupby(attribute, dropna=False, sort=True):
            actual = part[label] == positive_label
            predicted = part[score] == positive_label
            rates[group] = {
                "count": len(part),
                "positive_rate": float(predicted.mean()),
                # recall of the positive label within the group; undefined without positives
                "true_positive_rate": (
                    metrics.recall_score(actual, predicted, zero_division=0)
                    if actual.any()
                    else None
                ),
            }
        reference = max(rates, key=lambda g: rates[g]["count"])
        ref = rates[reference]
        for group, rate in rates.items():
            impact = rate["positive_rate"] / ref["positive_rate"] if ref["positive_rate"] else None
            low, high = DISPARATE_IMPACT_RANGE
            rows.append(
                {
                    "attribute": attribute,
                    "group": _key(group),
                    **rate,
                    "statistical_parity_difference": rate["positive_rate"] - ref["positive_rate"],
                    "disparate_impact": impact,
                    "disparate_impact_flag": impact is not None and not low <= impact <= high,
                    "equal_opportunity_difference": (
                        rate["true_positive_rate"] - ref["true_positive_rate"]
                        if rate["true_positive_rate"] is not None
                        and ref["true_positive_rate"] is not None
                        else None
                    ),
                    "reference_group": _key(reference),
                }
            )
    return native(rows)


def _key(group: Any) -> Any:
    # groupby gives a 1-tuple for some pandas versions, NaN for missing values
    if isinstance(group, tuple) and len(group) == 1:
        group = group[0]
    return None if pd.isna(group) else group
