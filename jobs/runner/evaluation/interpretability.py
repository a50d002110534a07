"""Permutation feature importance through the model's own score function.

The evaluator cannot know whether a model wraps a scikit-learn estimator, so instead of
sklearn.inspection.permutation_importance it shuffles one predictor column at a time, asks the
model to predict again and measures the drop of accuracy (classification) or r2 (regression).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn import metrics
from sklearn.utils import check_random_state

from jobs.runner.evaluation.values import native

SAMPLE_ROWS = 500


def permutation_importance(
    frame: pd.DataFrame,
    *,
    predict: Callable[[pd.DataFrame], pd.Series],
    predictors: list[str],
    label: str,
    problem: str,
    repeats: int = 5,
    seed: int = 0,
    sample_rows: int = SAMPLE_ROWS,
) -> dict:
    """PREDICT maps rows to one prediction per row, in order."""
    rng = check_random_state(seed)
    if len(frame) > sample_rows:
        frame = frame.sample(n=sample_rows, random_state=rng)
    frame = frame.reset_index(drop=True)
    y_true = frame[label]

    def quality(rows: pd.DataFrame) -> float:
        predicted = pd.Series(list(predict(rows)), index=rows.index)
        if problem == "regression":
            return metrics.r2_score(y_true.astype(float), predicted.astype(float))
        if is_numeric_dtype(y_true) and is_numeric_dtype(predicted):
            # a label read as 1.0 (a CSV column with gaps) still matches a prediction of 1
            return metrics.accuracy_score(y_true.astype(float), predicted.astype(float))
        return metrics.accuracy_score(y_true.astype(str), predicted.astype(str))

    baseline = quality(frame)
    importances = []
    for feature in predictors:
        drops = []
        for _ in range(repeats):
            permuted = frame.copy()
            permuted[feature] = rng.permutation(permuted[feature].to_numpy())
            drops.append(baseline - quality(permuted))
        importances.append(
            {"feature": feature, "importance": float(np.mean(drops)), "std": float(np.std(drops))}
        )
    importances.sort(key=lambda item: item["importance"], reverse=True)
    return native({"method": "permutation", "feature_importance": importances})
