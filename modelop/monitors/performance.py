"""ModelEvaluator: classification or regression metrics of scored, labeled data, computed by
the command center's own evaluator (jobs.runner.evaluation, on scikit-learn).

Classification values: accuracy, precision, recall, f1_score, auc, confusion_matrix (one
dict per actual label, keyed by predicted label, as the job page draws it), labels,
positive_label. Without a probability column the AUC is that of the score column itself
(roc_auc_score(label == positive, score == positive)), as for a model giving labels only.
Regression values: mae, rmse, r2_score, mape.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from jobs.runner.evaluation.classification import classification_metrics
from jobs.runner.evaluation.regression import regression_metrics
from modelop.monitors._common import MonitorResult, columns, require, result, test_object

_SCALARS = ("accuracy", "precision", "recall", "f1_score", "auc", "log_loss")
_TESTS = {
    "classification_metrics": "Classification Metrics",
    "regression_metrics": "Regression Metrics",
}


class ModelEvaluator:
    def __init__(
        self,
        dataframe: pd.DataFrame,
        job_json: dict | None = None,
        label_column: str | None = None,
        score_column: str | None = None,
        positive_label: Any = None,
        probability_column: str | None = None,
        weight_column: str | None = None,
    ) -> None:
        self.dataframe = dataframe
        found = columns(
            job_json,
            {
                "label_column": label_column,
                "score_column": score_column,
                "probability_column": probability_column,
                "weight_column": weight_column,
            },
        )
        self.label_column = found["label_column"]
        self.score_column = found["score_column"]
        self.probability_column = found["probability_column"]
        self.weight_column = found["weight_column"]
        self.positive_label = positive_label

    def evaluate_performance(
        self, pre_defined_metrics: str = "classification_metrics", **_ignored: Any
    ) -> MonitorResult:
        if pre_defined_metrics not in _TESTS:
            raise ValueError(
                f"unknown pre_defined_metrics {pre_defined_metrics!r}; "
                f"use one of {', '.join(_TESTS)}"
            )
        frame = self.dataframe
        label = require(frame, self.label_column, "label_column", "dataframe")
        score = require(frame, self.score_column, "score_column", "dataframe")
        frame = frame[frame[label].notna() & frame[score].notna()]
        if not len(frame):
            raise ValueError("no record has both a label and a score")
        weight = frame[self.weight_column] if self.weight_column in frame.columns else None
        if pre_defined_metrics == "regression_metrics":
            values = regression_metrics(frame[label], frame[score], weight=weight)
        else:
            values = self._classification(frame, label, score, weight)
        test = test_object(
            name=_TESTS[pre_defined_metrics],
            category="performance",
            test_type=pre_defined_metrics,
            values=values,
        )
        flat = {k: v for k, v in values.items() if not isinstance(v, list | dict)}
        return result(test, flat)

    def _classification(
        self, frame: pd.DataFrame, label: str, score: str, weight: pd.Series | None
    ) -> dict:
        y_true, y_pred = frame[label], frame[score]
        probability = None
        if self.probability_column and self.probability_column in frame.columns:
            probability = frame[self.probability_column].astype(float)
        values = classification_metrics(
            y_true, y_pred, positive_label=self.positive_label, probability=probability,
            weight=weight,
        )  # fmt: skip
        if "auc" not in values and len(values["labels"]) <= 2:
            # labels only: the AUC of the predicted labels (one point on the ROC curve)
            positive = values["positive_label"]
            values = classification_metrics(
                y_true, y_pred, positive_label=positive,
                probability=(y_pred == positive).astype(float), weight=weight,
            )  # fmt: skip
            values.pop("log_loss", None)  # of 0/1 "probabilities": meaningless
        keep = [*_SCALARS, "confusion_matrix", "labels", "positive_label", "per_class"]
        if probability is not None:
            keep += ["roc_curve", "precision_recall_curve"]
        return {k: values[k] for k in keep if k in values}
