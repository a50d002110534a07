"""Classification metrics in the shape ModelOp monitors produce, all from scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from jobs.runner.evaluation.values import native


def classification_metrics(
    y_true: pd.Series,
    y_pred: pd.Series,
    *,
    positive_label: Any = None,
    probability: pd.Series | None = None,
    class_probabilities: pd.DataFrame | None = None,
    weight: pd.Series | None = None,
) -> dict:
    """PROBABILITY is the probability of POSITIVE_LABEL (binary); CLASS_PROBABILITIES has one
    column per label (multiclass). WEIGHT weighs every score; the confusion matrix and the
    supports stay counts of records."""
    w = None if weight is None else weight.astype(float).to_numpy()
    labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=_order)
    binary = len(labels) <= 2
    if positive_label is None:
        positive_label = default_positive_label(labels)
    elif positive_label not in labels:
        # a parameter typed in a form is a string: "1" means the label 1
        positive_label = next((x for x in labels if str(x) == str(positive_label)), positive_label)
    result: dict = {"accuracy": metrics.accuracy_score(y_true, y_pred, sample_weight=w)}
    if binary:
        options = {"pos_label": positive_label, "average": "binary", "zero_division": 0}
        options["sample_weight"] = w
    else:
        options = {"average": "macro", "zero_division": 0, "labels": labels, "sample_weight": w}
    result["precision"] = metrics.precision_score(y_true, y_pred, **options)
    result["recall"] = metrics.recall_score(y_true, y_pred, **options)
    result["f1_score"] = metrics.f1_score(y_true, y_pred, **options)

    if binary and probability is not None:
        positive = (y_true == positive_label).astype(int)
        if positive.nunique() == 2:
            result["auc"] = metrics.roc_auc_score(positive, probability, sample_weight=w)
            fpr, tpr, _ = metrics.roc_curve(positive, probability, sample_weight=w)
            result["roc_curve"] = [{"fpr": f, "tpr": t} for f, t in zip(fpr, tpr, strict=True)]
            precision, recall, _ = metrics.precision_recall_curve(
                positive, probability, sample_weight=w
            )
            result["precision_recall_curve"] = [
                {"precision": p, "recall": r} for p, r in zip(precision, recall, strict=True)
            ]
            result["average_precision"] = metrics.average_precision_score(
                positive, probability, sample_weight=w
            )
        # The model decides the labels; the threshold it used shows as the lowest probability
        # among the records it called positive (what the confusion matrix counts).
        called = probability[y_pred == positive_label]
        if len(called):
            result["threshold"] = float(called.min())
        result["log_loss"] = metrics.log_loss(positive, probability, labels=[0, 1], sample_weight=w)
    elif not binary and class_probabilities is not None:
        columns = list(class_probabilities.columns)
        if set(y_true.tolist()) <= set(columns) and len(set(y_true.tolist())) > 2:
            probabilities = class_probabilities.to_numpy(dtype=float)
            probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
            result["auc"] = metrics.roc_auc_score(
                y_true,
                probabilities,
                multi_class="ovr",
                average="macro",
                labels=columns,
                sample_weight=w,
            )
            result["log_loss"] = metrics.log_loss(
                y_true, probabilities, labels=columns, sample_weight=w
            )

    matrix = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    result["labels"] = labels
    result["confusion_matrix"] = [
        {str(predicted): int(count) for predicted, count in zip(labels, row, strict=True)}
        for row in matrix
    ]
    if not binary:
        precision, recall, f1, support = metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
        result["per_class"] = [
            {"label": label, "precision": p, "recall": r, "f1_score": f, "support": s}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        ]
    result["positive_label"] = positive_label
    return native(result)


def default_positive_label(labels: list) -> Any:
    """1 (or True) when present, else the last label in sorted order, as scikit-learn does."""
    for candidate in (1, True, "1", "yes", "true"):
        if any(label == candidate and type(label) is type(candidate) for label in labels):
            return candidate
    return labels[-1] if labels else None


def _order(value: Any) -> tuple:
    # Labels may mix types (1 and "1"); sort numbers before strings, each among themselves.
    if isinstance(value, bool | int | float | np.number):
        return (0, float(value), "")
    return (1, 0.0, str(value))
