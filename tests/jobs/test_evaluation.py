"""The built-in evaluator against values computed independently: scikit-learn called directly
on the same arrays, and small examples counted by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sklearn import metrics

from jobs.runner.evaluation import (
    EvaluationError,
    Roles,
    evaluate,
    roles_from_schema,
    roles_with_params,
)
from jobs.runner.evaluation.classification import classification_metrics
from jobs.runner.evaluation.fairness import bias_metrics
from jobs.runner.evaluation.interpretability import permutation_importance
from jobs.runner.evaluation.regression import regression_metrics

ACTUAL = [1, 0, 1, 1, 0, 0, 1, 0]
PREDICTED = [1, 0, 0, 1, 1, 0, 1, 0]
PROBABILITY = [0.9, 0.2, 0.4, 0.8, 0.6, 0.1, 0.7, 0.3]


def test_binary_classification_matches_sklearn():
    y, p, prob = pd.Series(ACTUAL), pd.Series(PREDICTED), pd.Series(PROBABILITY)
    result = classification_metrics(y, p, probability=prob)
    assert result["positive_label"] == 1
    assert result["accuracy"] == pytest.approx(metrics.accuracy_score(ACTUAL, PREDICTED))
    assert result["precision"] == pytest.approx(metrics.precision_score(ACTUAL, PREDICTED))
    assert result["recall"] == pytest.approx(metrics.recall_score(ACTUAL, PREDICTED))
    assert result["f1_score"] == pytest.approx(metrics.f1_score(ACTUAL, PREDICTED))
    assert result["auc"] == pytest.approx(metrics.roc_auc_score(ACTUAL, PROBABILITY))
    assert result["log_loss"] == pytest.approx(metrics.log_loss(ACTUAL, PROBABILITY))
    fpr, tpr, _ = metrics.roc_curve(ACTUAL, PROBABILITY)
    assert result["roc_curve"] == [
        {"fpr": pytest.approx(f), "tpr": pytest.approx(t)} for f, t in zip(fpr, tpr, strict=True)
    ]
    precision, recall, _ = metrics.precision_recall_curve(ACTUAL, PROBABILITY)
    assert [c["precision"] for c in result["precision_recall_curve"]] == pytest.approx(
        list(precision)
    )
    assert [c["recall"] for c in result["precision_recall_curve"]] == pytest.approx(list(recall))
    assert result["average_precision"] == pytest.approx(
        metrics.average_precision_score(ACTUAL, PROBABILITY)
    )
    # The model called records positive from probability 0.6 (0.6, 0.7, 0.8, 0.9) on.
    assert result["threshold"] == 0.6
    assert "per_class" not in result


def test_the_page_computes_the_same_average_precision_from_the_curve():
    from jobs.views.metrics import average_precision

    result = classification_metrics(
        pd.Series(ACTUAL), pd.Series(PREDICTED), probability=pd.Series(PROBABILITY)
    )
    curve = [(c["recall"], c["precision"]) for c in result["precision_recall_curve"]]
    assert average_precision({}, curve) == pytest.approx(result["average_precision"])


def test_confusion_matrix_has_one_dict_per_actual_label_counted_by_hand():
    result = classification_metrics(pd.Series(ACTUAL), pd.Series(PREDICTED))
    assert result["labels"] == [0, 1]
    # actual 0: predicted 0 three times (idx 1, 5, 7), 1 once (idx 4)
    # actual 1: predicted 0 once (idx 2), 1 three times (idx 0, 3, 6)
    assert result["confusion_matrix"] == [{"0": 3, "1": 1}, {"0": 1, "1": 3}]
    assert "auc" not in result and "log_loss" not in result and "roc_curve" not in result


def test_string_labels_use_the_positive_label_given():
    y = pd.Series(["yes", "no", "no", "yes"])
    p = pd.Series(["yes", "yes", "no", "no"])
    result = classification_metrics(y, p, positive_label="no")
    assert result["positive_label"] == "no"
    assert result["precision"] == pytest.approx(metrics.precision_score(y, p, pos_label="no"))
    assert result["confusion_matrix"] == [{"no": 1, "yes": 1}, {"no": 1, "yes": 1}]


def test_multiclass_is_macro_averaged_with_per_class_rows():
    y = pd.Series(["a", "b", "c", "a", "b", "c", "a"])
    p = pd.Series(["a", "b", "b", "a", "c", "c", "b"])
    probs = pd.DataFrame(
        {
            "a": [0.7, 0.1, 0.1, 0.8, 0.2, 0.1, 0.3],
            "b": [0.2, 0.8, 0.5, 0.1, 0.3, 0.2, 0.4],
            "c": [0.1, 0.1, 0.4, 0.1, 0.5, 0.7, 0.3],
        }
    )
    result = classification_metrics(y, p, class_probabilities=probs)
    assert result["precision"] == pytest.approx(metrics.precision_score(y, p, average="macro"))
    assert result["recall"] == pytest.approx(metrics.recall_score(y, p, average="macro"))
    assert result["f1_score"] == pytest.approx(metrics.f1_score(y, p, average="macro"))
    assert result["auc"] == pytest.approx(
        metrics.roc_auc_score(y, probs.to_numpy(), multi_class="ovr", average="macro")
    )
    assert result["confusion_matrix"] == [
        {"a": 2, "b": 1, "c": 0},
        {"a": 0, "b": 1, "c": 1},
        {"a": 0, "b": 1, "c": 1},
    ]
    by_label = {row["label"]: row for row in result["per_class"]}
    assert by_label["a"] == {
        "label": "a",
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1_score": pytest.approx(0.8),
        "support": 3,
    }
    assert by_label["b"]["support"] == 2


def test_multiclass_without_probabilities_has_no_auc():
    result = classification_metrics(pd.Series([1, 2, 3]), pd.Series([1, 2, 2]))
    assert "auc" not in result and "log_loss" not in result


def test_regression_matches_sklearn():
    y = pd.Series([3.0, -0.5, 2.0, 7.0])
    p = pd.Series([2.5, 0.0, 2.0, 8.0])
    result = regression_metrics(y, p)
    assert result == {
        "mae": pytest.approx(metrics.mean_absolute_error(y, p)),
        "rmse": pytest.approx(math.sqrt(metrics.mean_squared_error(y, p))),
        "r2_score": pytest.approx(metrics.r2_score(y, p)),
        "mape": pytest.approx(metrics.mean_absolute_percentage_error(y, p)),
    }
    assert result["mae"] == pytest.approx(0.5)


def test_bias_rates_per_group_against_the_largest_group():
    frame = pd.DataFrame(
        {
            "sex": ["m", "m", "m", "m", "m", "m", "f", "f", "f", "f"],
            "label": [1, 1, 0, 0, 1, 0, 1, 1, 0, 0],
            "score": [1, 1, 1, 0, 0, 0, 1, 0, 0, 0],
        }
    )
    rows = bias_metrics(frame, label="label", score="score", protected=["sex"], positive_label=1)
    by_group = {row["group"]: row for row in rows}
    m, f = by_group["m"], by_group["f"]
    # m: 6 rows, predicted positive 3 → 0.5; actual positives 3, of them predicted 2 → 2/3
    assert (m["count"], m["positive_rate"], m["true_positive_rate"]) == (
        6,
        0.5,
        pytest.approx(2 / 3),
    )
    # f: 4 rows, predicted positive 1 → 0.25; actual positives 2, predicted 1 → 0.5
    assert (f["count"], f["positive_rate"], f["true_positive_rate"]) == (4, 0.25, 0.5)
    assert m["reference_group"] == f["reference_group"] == "m"
    assert f["statistical_parity_difference"] == pytest.approx(-0.25)
    assert f["disparate_impact"] == pytest.approx(0.5)
    assert f["disparate_impact_flag"] is True
    assert f["equal_opportunity_difference"] == pytest.approx(0.5 - 2 / 3)
    assert m["disparate_impact"] == 1.0 and m["disparate_impact_flag"] is False
    assert set(m) == {
        "attribute",
        "group",
        "count",
        "positive_rate",
        "true_positive_rate",
        "statistical_parity_difference",
        "disparate_impact",
        "disparate_impact_flag",
        "equal_opportunity_difference",
        "reference_group",
    }


def test_group_without_actual_positives_has_no_true_positive_rate():
    frame = pd.DataFrame({"g": ["a", "a", "b"], "label": [1, 0, 0], "score": [1, 0, 1]})
    rows = bias_metrics(frame, label="label", score="score", protected=["g"], positive_label=1)
    b = next(row for row in rows if row["group"] == "b")
    assert b["true_positive_rate"] is None and b["equal_opportunity_difference"] is None


def test_permutation_importance_finds_the_feature_the_model_uses():
    frame = pd.DataFrame({"x": list(range(200)), "noise": [i % 7 for i in range(200)]})
    frame["label"] = (frame["x"] >= 100).astype(int)

    def predict(rows):
        return (rows["x"] >= 100).astype(int)

    result = permutation_importance(
        frame, predict=predict, predictors=["noise", "x"], label="label", problem="classification"
    )
    assert result["method"] == "permutation"
    first, second = result["feature_importance"]
    assert first["feature"] == "x" and first["importance"] > 0.3 and first["std"] >= 0
    assert second == {"feature": "noise", "importance": 0.0, "std": 0.0}


def test_roles_come_from_schema_attributes_and_params_win():
    schema = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "id", "type": "int", "role": "identifier"},
            {"name": "age", "type": "int", "role": "predictor", "protectedClass": True},
            {"name": "income", "type": "double", "role": "predictor"},
            {"name": "label", "type": "int", "role": "label"},
            {"name": "score", "type": "int", "role": "score"},
        ],
    }
    roles = roles_from_schema(schema)
    assert (roles.label, roles.score, roles.predictors, roles.protected) == (
        "label",
        "score",
        ["age", "income"],
        ["age"],
    )
    roles = roles_with_params(roles, {"score_column": "other", "protected_columns": ["sex"]})
    assert (roles.score, roles.protected) == ("other", ["sex"])


def test_evaluate_guesses_regression_for_a_numeric_label_with_many_values():
    frame = pd.DataFrame({"y": [float(i) for i in range(20)], "p": [i + 0.5 for i in range(20)]})
    result = evaluate(frame, Roles(label="y", score="p"))
    assert set(result) == {"mae", "rmse", "r2_score", "mape"}
    assert result["mae"] == pytest.approx(0.5)


def test_evaluate_classification_adds_bias_for_protected_columns():
    frame = pd.DataFrame({"y": ACTUAL, "p": PREDICTED, "prob": PROBABILITY, "g": list("aabbaabb")})
    result = evaluate(frame, Roles(label="y", score="p", probability="prob", protected=["g"]))
    assert result["accuracy"] == pytest.approx(0.75)
    assert {row["group"] for row in result["bias"]} == {"a", "b"}
    assert "auc" in result


def test_evaluate_without_a_label_says_how_to_name_it():
    with pytest.raises(EvaluationError, match="label_column"):
        evaluate(pd.DataFrame({"p": [1]}), Roles(score="p"))


def test_a_weight_column_weighs_the_scores_but_not_the_counts():
    weights = [1, 2, 1, 3, 1, 1, 2, 1]
    frame = pd.DataFrame({"y": ACTUAL, "p": PREDICTED, "prob": PROBABILITY, "w": weights})
    roles = roles_from_schema(
        {
            "fields": [
                {"name": "y", "role": "label"},
                {"name": "p", "role": "score"},
                {"name": "w", "role": "weight"},
            ]
        }
    )
    roles.probability = "prob"
    result = evaluate(frame, roles)
    assert result["accuracy"] == pytest.approx(
        metrics.accuracy_score(ACTUAL, PREDICTED, sample_weight=weights)
    )
    assert result["accuracy"] != pytest.approx(metrics.accuracy_score(ACTUAL, PREDICTED))
    assert result["f1_score"] == pytest.approx(
        metrics.f1_score(ACTUAL, PREDICTED, sample_weight=weights)
    )
    assert result["auc"] == pytest.approx(
        metrics.roc_auc_score(ACTUAL, PROBABILITY, sample_weight=weights)
    )
    assert result["confusion_matrix"] == [{"0": 3, "1": 1}, {"0": 1, "1": 3}]


def test_a_weight_column_weighs_regression_metrics():
    y, p, w = [3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0], [1.0, 1.0, 5.0, 2.0]
    result = evaluate(
        pd.DataFrame({"y": y, "p": p, "w": w}),
        roles_with_params(
            Roles(),
            {
                "label_column": "y",
                "score_column": "p",
                "weight_column": "w",
                "problem": "regression",
            },
        ),
    )
    assert result["mae"] == pytest.approx(metrics.mean_absolute_error(y, p, sample_weight=w))
    assert result["r2_score"] == pytest.approx(metrics.r2_score(y, p, sample_weight=w))


def test_permutation_importance_matches_float_labels_with_int_predictions():
    frame = pd.DataFrame({"x": [float(i) for i in range(100)]})
    frame["label"] = (frame["x"] >= 50).astype(float)

    def predict(rows):
        return (rows["x"] >= 50).astype(int)

    result = permutation_importance(
        frame, predict=predict, predictors=["x"], label="label", problem="classification"
    )
    # baseline accuracy 1.0, a shuffled x about 0.5: the drop is about a half
    assert 0.3 < result["feature_importance"][0]["importance"] < 0.7
