"""modelop.schema.infer: columns from the monitored model's extended Avro schema, found in a
ModelOp job JSON or, for our own jobs, in the schema attachment the job names."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelop.monitors.bias import BiasMonitor
from modelop.monitors.drift import ConceptDriftDetector, DriftDetector
from modelop.monitors.performance import ModelEvaluator
from modelop.monitors.stability import StabilityMonitor
from modelop.schema import infer

SCHEMA = {
    "type": "record",
    "name": "credit",
    "fields": [
        {"name": "id", "type": "int", "role": "identifier"},
        {"name": "amount", "type": "double", "role": "predictor", "dataClass": "numerical"},
        {"name": "purpose", "type": "string", "role": "predictor", "dataClass": "categorical",
         "specialValues": ["unknown"]},
        {"name": "age", "type": "int", "role": "predictor", "driftCandidate": False},
        {"name": "gender", "type": "string", "role": "non_predictor", "protectedClass": True},
        {"name": "label", "type": "int", "role": "label", "dataClass": "categorical"},
        {"name": "score", "type": "int", "role": "score", "dataClass": "categorical"},
        {"name": "probability", "type": "double", "role": "score"},
        {"name": "weight", "type": ["null", "double"], "role": "weight"},
    ],
}  # fmt: skip


def modelop_job(schema: dict) -> dict:
    """What a ModelOp monitor's init gets: the job as text under rawJson."""
    job = {
        "referenceModel": {
            "storedModel": {
                "modelMetaData": {"inputSchema": [{"schemaDefinition": schema}]},
            }
        }
    }
    return {"rawJson": json.dumps(job)}


def test_the_input_schema_comes_from_the_reference_model_of_a_modelop_job():
    assert infer.extract_input_schema(modelop_job(SCHEMA)) == SCHEMA
    parsed = json.loads(modelop_job(SCHEMA)["rawJson"])
    assert infer.extract_input_schema(parsed) == SCHEMA


def test_our_jobs_schema_attachment_is_read_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "input_schema.avsc").write_text(json.dumps(SCHEMA))
    job = {"rawJson": json.dumps({"id": "j", "inputSchema": "input_schema.avsc"})}
    assert infer.extract_input_schema(job) == SCHEMA
    with pytest.raises(infer.SchemaError, match="no inputSchema"):
        infer.extract_input_schema({"rawJson": json.dumps({"id": "j", "inputSchema": ""})})


def test_monitoring_parameters_follow_the_fields_roles_and_classes():
    params = infer.set_monitoring_parameters(SCHEMA, check_schema=True)
    assert params["label_column"] == "label" and params["score_column"] == "score"
    assert params["probability_column"] == "probability" and params["weight_column"] == "weight"
    assert params["predictors"] == ["amount", "purpose", "age"]
    assert params["numerical_columns"] == ["amount"]  # age is no drift candidate
    assert params["categorical_columns"] == ["purpose"]
    assert params["protected_classes"] == ["gender"]
    assert params["identifier_columns"] == ["id"]
    assert params["special_values"] == {"purpose": ["unknown"]}
    assert params["feature_dataclass"]["age"] == "numerical"
    assert params["feature_dataclass"]["gender"] == "categorical"  # from its type, string


def test_validate_schema_names_every_problem():
    bad = {"fields": [{"name": "a", "type": "int", "role": "target"},
                      {"name": "a", "type": "int", "dataClass": "ordinal"},
                      {"name": "b", "type": "int", "protectedClass": "yes"}]}  # fmt: skip
    with pytest.raises(infer.SchemaError) as raised:
        infer.validate_schema(bad)
    message = str(raised.value)
    assert "unknown role 'target'" in message and "appears twice" in message
    assert "unknown dataClass 'ordinal'" in message and "protectedClass" in message
    assert infer.validate_schema(SCHEMA) is True


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)

    def frame(n: int, shift: float) -> pd.DataFrame:
        amount = rng.normal(loc=shift, size=n)
        return pd.DataFrame(
            {
                "id": range(n),
                "amount": amount,
                "purpose": rng.choice(["car", "home", "unknown"], n),
                "age": rng.integers(20, 70, n),
                "gender": rng.choice(["f", "m"], n),
                "label": (amount > shift).astype(int),
                "score": (amount > 0).astype(int),
                "probability": 1 / (1 + np.exp(-amount)),
                "weight": 1.0,
            }
        )

    return frame(300, 0.0), frame(300, 0.5)


def test_monitors_take_their_columns_from_the_job_json(frames):
    baseline, sample = frames
    job = modelop_job(SCHEMA)

    drift = DriftDetector(baseline, sample, job_json=job).calculate_drift("Kolmogorov-Smirnov")
    assert set(drift) == {"amount_ks_pvalue", "data_drift"}
    assert drift["amount_ks_pvalue"] == pytest.approx(
        stats.ks_2samp(baseline.amount, sample.amount).pvalue
    )
    performance = ModelEvaluator(sample, job_json=job).evaluate_performance()
    assert performance["accuracy"] == pytest.approx((sample.label == sample.score).mean())
    assert "auc" in performance  # from the probability column
    bias = BiasMonitor(sample, job_json=job).compute_bias_metrics()
    assert bias["bias"][0]["protected_class"] == "gender"
    stability = StabilityMonitor(baseline, sample, job_json=job).compute_stability_indices()
    assert {"amount_PSI", "purpose_PSI", "age_PSI", "score_PSI"} <= set(stability)
    concept = ConceptDriftDetector(baseline, sample, job_json=job).calculate_concept_drift(
        "Jensen-Shannon"
    )
    assert set(concept) == {"score_js_distance", "concept_drift"}


def test_a_column_given_wins_over_the_job_json(frames):
    baseline, sample = frames
    drift = DriftDetector(
        baseline, sample, job_json=modelop_job(SCHEMA), numerical_columns=["age"]
    ).calculate_drift("Wasserstein")
    assert set(drift) == {"age_ws_distance", "data_drift"}
