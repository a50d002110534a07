"""A metrics job with two inputs (baseline, then sample) through job_execute and the real
sandboxed child: the built-in evaluator's data drift and SHAP values, stored and drawn."""

from __future__ import annotations

import math
import random

import pytest
from django.urls import reverse

from jobs.models import JobStatus
from jobs.worker.supervisor import job_execute
from tests.jobs.test_executor_supervisor import embedded, snapshot_of, submit

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE = """\
import math

# modelop.score
def action(datum):
    p = 1 / (1 + math.exp(-(2.5 * datum["x1"] + 0.3 * datum["x2"])))
    yield {**datum, "prediction": int(p > 0.5), "probability": p}
"""


@pytest.fixture(autouse=True)
def executor_settings(in_process_executor):
    return in_process_executor


def _records(rng: random.Random, n: int, shift: float) -> list[dict]:
    rows = []
    for _ in range(n):
        x1, x2 = rng.gauss(shift, 1), rng.gauss(0, 1)
        p = 1 / (1 + math.exp(-(2.5 * x1 + 0.3 * x2)))
        rows.append({"x1": x1, "x2": x2, "y": int(rng.random() < p)})
    return rows


def test_a_metrics_job_with_a_baseline_and_a_sample_stores_drift_and_shap(
    alice, team_alpha, alice_client
):
    rng = random.Random(11)
    snapshot = snapshot_of(SOURCE, owner=alice, team=team_alpha)
    params = {
        "evaluator": True, "label_column": "y", "score_column": "prediction", "probability_column": "probability",
        "predictor_columns": ["x1", "x2"], "shap_rows": 20, "psi_threshold": 0.25,
    }  # fmt: skip
    job = submit(
        alice, snapshot,
        embedded(*_records(rng, 800, 0.0)), embedded(*_records(rng, 800, 1.5)),
        job_type="metrics", params=params,
    )  # fmt: skip

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message + job.log
    baseline, sample = job.metrics
    assert "data_drift" not in baseline
    assert sample["x1_drift"] is True and sample["x2_drift"] is False
    assert sample["data_drift_features"] == ["x1"]
    assert sample["x1_ks_pvalue"] < 1e-6 and sample["x2_PSI"] < 0.25
    psi = next(t for t in sample["data_drift"] if t["test_type"] == "psi")
    assert psi["threshold"] == 0.25 and psi["test_category"] == "data_drift"
    shap = sample["interpretability"]["shap"]
    assert [f["feature"] for f in shap["feature_importance"]] == ["x1", "x2"]
    assert shap["rows_explained"] == 20
    assert "auc" in sample and "feature_importance" in sample["interpretability"]
    assert "data drift of" in job.log and "1 of 2 features drift" in job.log

    html = alice_client.get(reverse("jobs-detail", args=[job.uuid])).content.decode()
    assert 'class="table compact drift"' in html and "PSI by feature</title>" in html
    assert "Mean |SHAP value|</title>" in html
