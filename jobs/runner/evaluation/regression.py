"""Regression metrics, as ModelOp's regression monitors name them."""

from __future__ import annotations

import math

import pandas as pd
from sklearn import metrics

from jobs.runner.evaluation.values import native


def regression_metrics(
    y_true: pd.Series, y_pred: pd.Series, *, weight: pd.Series | None = None
) -> dict:
    y_true, y_pred = y_true.astype(float), y_pred.astype(float)
    w = None if weight is None else weight.astype(float).to_numpy()
    return native(
        {
            "mae": metrics.mean_absolute_error(y_true, y_pred, sample_weight=w),
            "rmse": math.sqrt(metrics.mean_squared_error(y_true, y_pred, sample_weight=w)),
            "r2_score": metrics.r2_score(y_true, y_pred, sample_weight=w),
            "mape": metrics.mean_absolute_percentage_error(y_true, y_pred, sample_weight=w),
        }
    )
