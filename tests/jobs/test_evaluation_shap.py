"""SHAP values in the built-in evaluator, through a score function (here a logistic regression
whose weights say which feature matters most)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from jobs.runner.evaluation import Roles, evaluate
from jobs.runner.evaluation.shapley import shap_importance


@pytest.fixture
def labeled() -> tuple[pd.DataFrame, LogisticRegression]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(600, 3)), columns=["strong", "weak", "noise"])
    logit = 3.0 * frame["strong"] + 0.8 * frame["weak"]
    frame["label"] = (rng.random(600) < 1 / (1 + np.exp(-logit))).astype(int)
    clf = LogisticRegression().fit(frame[["strong", "weak", "noise"]], frame["label"])
    return frame, clf


def _proba(clf):
    return lambda rows: pd.Series(clf.predict_proba(rows[["strong", "weak", "noise"]])[:, 1])


def test_shap_ranks_the_features_by_their_weight(labeled):
    frame, clf = labeled
    result = shap_importance(
        frame, predict_score=_proba(clf), predictors=["strong", "weak", "noise"], rows=40
    )
    ranking = [item["feature"] for item in result["feature_importance"]]
    assert ranking == ["strong", "weak", "noise"]
    assert result["rows_explained"] == 40 and result["background_rows"] == 50
    assert 0 < result["expected_value"] < 1


def test_shap_stops_at_its_time_limit(labeled):
    frame, clf = labeled

    def slow(rows):
        time.sleep(0.05)
        return _proba(clf)(rows)

    started = time.monotonic()
    result = shap_importance(
        frame, predict_score=slow, predictors=["strong", "weak", "noise"], rows=100, seconds=0.5
    )
    assert time.monotonic() - started < 5
    assert result.get("note", "").startswith("stopped after") or "skipped" in result


def test_a_score_that_is_not_a_number_is_skipped_with_a_note(labeled):
    frame, _ = labeled
    result = shap_importance(
        frame, predict_score=lambda rows: pd.Series(["yes"] * len(rows)), predictors=["strong"]
    )
    assert "no numeric score" in result["skipped"]


def test_the_evaluator_puts_shap_beside_permutation_importance(labeled):
    frame, clf = labeled
    frame = frame.assign(
        score=clf.predict(frame[["strong", "weak", "noise"]]),
        proba=clf.predict_proba(frame[["strong", "weak", "noise"]])[:, 1],
    )
    roles = Roles(
        label="label", score="score", probability="proba", predictors=["strong", "weak", "noise"]
    )

    def explain(column):
        return lambda rows: pd.Series(
            clf.predict_proba(rows[["strong", "weak", "noise"]])[:, 1]
            if column == "proba"
            else clf.predict(rows[["strong", "weak", "noise"]])
        )

    result = evaluate(frame, roles, predict=explain("score"), explain=explain, shap_rows=20)
    interpretability = result["interpretability"]
    assert interpretability["method"] == "permutation"
    assert interpretability["shap"]["feature_importance"][0]["feature"] == "strong"


def test_a_classifier_without_a_probability_gets_no_shap(labeled):
    frame, clf = labeled
    frame = frame.assign(score=clf.predict(frame[["strong", "weak", "noise"]]))
    roles = Roles(label="label", score="score", predictors=["strong", "weak", "noise"])
    result = evaluate(frame, roles, explain=lambda column: None)
    assert "no probability" in result["interpretability"]["shap"]["skipped"]
