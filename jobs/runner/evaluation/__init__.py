"""The built-in evaluator: metrics for models without a metrics function. No Django here: it
runs in the executor child. Column roles come from an Avro schema's field attributes
("role": label | score | predictor | identifier | weight, "protectedClass": true) or from the
job's parameters, which win."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from jobs.runner.evaluation.classification import classification_metrics
from jobs.runner.evaluation.fairness import bias_metrics
from jobs.runner.evaluation.interpretability import permutation_importance
from jobs.runner.evaluation.regression import regression_metrics
from jobs.runner.evaluation.shapley import SHAP_ROWS, SHAP_SECONDS, shap_importance

# A numeric label with more distinct values than this is a regression target.
MAX_CLASSES = 10


class EvaluationError(Exception):
    """The data or parameters do not allow an evaluation; the message says why."""


@dataclass
class Roles:
    label: str = ""
    score: str = ""
    probability: str = ""
    weight: str = ""
    class_probabilities: dict[Any, str] = field(default_factory=dict)
    predictors: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    positive_label: Any = None
    problem: str = ""  # "classification", "regression" or "" (guessed from the label)


def roles_from_schema(schema: dict | list | None) -> Roles:
    roles = Roles()
    fields = schema.get("fields", []) if isinstance(schema, dict) else []
    for item in fields:
        name, role = item.get("name", ""), item.get("role")
        if role == "label":
            roles.label = name
        elif role == "score":
            # ModelOp schemas often mark both the prediction and its probability as scores:
            # the first is the score, a later floating-point one the probability.
            if not roles.score:
                roles.score = name
            elif not roles.probability and _is_float(item.get("type")):
                roles.probability = name
        elif role == "weight":
            roles.weight = name
        elif role == "predictor":
            roles.predictors.append(name)
        if item.get("protectedClass") is True:
            roles.protected.append(name)
    return roles


def _is_float(avro_type: Any) -> bool:
    types = avro_type if isinstance(avro_type, list) else [avro_type]
    return any(t in ("double", "float") for t in types)


def roles_with_params(roles: Roles, params: dict) -> Roles:
    for key, attribute in (
        ("label_column", "label"),
        ("score_column", "score"),
        ("probability_column", "probability"),
        ("weight_column", "weight"),
        ("positive_label", "positive_label"),
        ("problem", "problem"),
    ):
        if params.get(key) not in (None, ""):
            setattr(roles, attribute, params[key])
    if isinstance(params.get("protected_columns"), list):
        roles.protected = list(params["protected_columns"])
    if isinstance(params.get("predictor_columns"), list):
        roles.predictors = list(params["predictor_columns"])
    if isinstance(params.get("probability_columns"), dict):
        roles.class_probabilities = dict(params["probability_columns"])
    return roles


def evaluate(
    frame: pd.DataFrame,
    roles: Roles,
    *,
    predict: Callable[[pd.DataFrame], pd.Series] | None = None,
    explain: Callable[[str], Callable[[pd.DataFrame], pd.Series] | None] | None = None,
    shap_rows: int = SHAP_ROWS,
    shap_seconds: float = SHAP_SECONDS,
) -> dict:
    """Performance, bias and (with PREDICT) interpretability metrics of FRAME. EXPLAIN maps
    an output column to a predict function giving that column, for SHAP values of the
    probability (or a regression's score)."""
    for what, column in (("label", roles.label), ("score", roles.score)):
        if not column:
            raise EvaluationError(
                f'no {what} column: give a schema field "role": "{what}" or the job '
                f"parameter {what}_column"
            )
        if column not in frame.columns:
            raise EvaluationError(f"the {what} column '{column}' is not in the input")
    for column in [
        roles.probability,
        roles.weight,
        *roles.class_probabilities.values(),
        *roles.protected,
    ]:
        if column and column not in frame.columns:
            raise EvaluationError(f"the column '{column}' is not in the input")
    frame = frame[frame[roles.label].notna() & frame[roles.score].notna()]
    if not len(frame):
        raise EvaluationError("no input record has both a label and a score")
    y_true, y_pred = frame[roles.label], frame[roles.score]
    problem = roles.problem or _problem(y_true)
    weight = frame[roles.weight] if roles.weight else None

    if problem == "regression":
        result = regression_metrics(y_true, y_pred, weight=weight)
    else:
        class_probabilities = None
        if roles.class_probabilities:
            class_probabilities = pd.DataFrame(
                {label: frame[c] for label, c in roles.class_probabilities.items()}
            )
        result = classification_metrics(
            y_true,
            y_pred,
            positive_label=roles.positive_label,
            probability=frame[roles.probability].astype(float) if roles.probability else None,
            class_probabilities=class_probabilities,
            weight=weight,
        )
        if roles.protected:
            result["bias"] = bias_metrics(
                frame,
                label=roles.label,
                score=roles.score,
                protected=roles.protected,
                positive_label=result["positive_label"],
            )
    predictors = [p for p in roles.predictors if p in frame.columns]
    if predict is not None and predictors:
        result["interpretability"] = permutation_importance(
            frame, predict=predict, predictors=predictors, label=roles.label, problem=problem
        )
    if explain is not None and predictors and shap_rows > 0:
        column = roles.probability or (roles.score if problem == "regression" else "")
        predict_score = explain(column) if column else None
        shap = (
            shap_importance(
                frame, predict_score=predict_score, predictors=predictors, rows=shap_rows,
                seconds=shap_seconds,
            )
            if predict_score is not None
            else {"skipped": "the model gives no probability or numeric score to explain"}
        )  # fmt: skip
        result.setdefault("interpretability", {})["shap"] = shap
    return result


def _problem(y_true: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(y_true) and not pd.api.types.is_bool_dtype(y_true)
    return "regression" if numeric and y_true.nunique() > MAX_CLASSES else "classification"
