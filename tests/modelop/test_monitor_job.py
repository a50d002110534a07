"""A ModelOp-style monitor model, importing our modelop package, run as a job through
job_execute in this process: the real (sandboxed) model process reads the package from the
sandbox's read-only folders, and the metrics are stored on the job.

The monitor's metrics function takes one DataFrame and splits it into baseline and sample
itself: a metrics function of two parameters (one DataFrame per input) is not yet in
jobs/runner/metrics.py.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import orjson
import pandas as pd
import pytest
from django.core.files.base import ContentFile
from scipy import stats

from jobs.models import JobAsset, JobStatus
from jobs.runner.sandbox import landlock_abi
from jobs.services import InputSpec, job_submit
from jobs.worker.supervisor import job_execute
from models_registry.services import model_create

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = {
    "type": "record",
    "name": "loan",
    "fields": [
        {"name": "amount", "type": "double", "role": "predictor", "dataClass": "numerical"},
        {"name": "purpose", "type": "string", "role": "predictor", "dataClass": "categorical"},
        {"name": "label", "type": "int", "role": "label"},
        {"name": "score", "type": "int", "role": "score"},
    ],
}

DRIFT_MONITOR = """\
import json

import modelop.monitors.drift as drift
import modelop.monitors.stability as stability
import modelop.schema.infer as infer
import modelop.utils as utils

logger = utils.configure_logger()
JOB = {}


# modelop.init
def init(init_param):
    global JOB
    JOB = json.loads(init_param["rawJson"])
    infer.validate_schema(infer.extract_input_schema(JOB))


# modelop.metrics
def metrics(df):
    df_baseline = df[df["dataset"] == "baseline"].drop(columns="dataset")
    df_sample = df[df["dataset"] == "sample"].drop(columns="dataset")
    detector = drift.DriftDetector(df_baseline=df_baseline, df_sample=df_sample, job_json=JOB)
    ks = detector.calculate_drift(pre_defined_test="Kolmogorov-Smirnov",
                                  flattening_suffix="_ks_pvalue")
    js = detector.calculate_drift(pre_defined_test="Jensen-Shannon",
                                  flattening_suffix="_js_distance")
    monitor = stability.StabilityMonitor(df_baseline=df_baseline, df_sample=df_sample,
                                         job_json=JOB)
    psi = monitor.compute_stability_indices(n_groups=4, group_cuts={"amount": [0.0, 1.0]})
    logger.info("drift monitor done")
    yield utils.merge(ks, js, psi)
"""

SCORING_WITH_MONITORS = """\
from modelop.monitors.performance import ModelEvaluator
from modelop_sdk.utils import dashboard_utils


# modelop.score
def action(datum):
    import pandas as pd
    frame = pd.DataFrame([datum, {**datum, "label": 1 - datum["label"]}])
    result = ModelEvaluator(frame, label_column="label", score_column="score")
    accuracy = result.evaluate_performance("classification_metrics")["accuracy"]
    yield {"accuracy": accuracy, **dashboard_utils.generic_table([{"a": 1}])}
"""


def records() -> list[dict]:
    rng = np.random.default_rng(11)
    rows = []
    for dataset, shift in (("baseline", 0.0), ("sample", 0.7)):
        for _ in range(150):
            amount = float(rng.normal(loc=shift))
            rows.append(
                {
                    "dataset": dataset,
                    "amount": amount,
                    "purpose": str(rng.choice(["car", "home", "study"])),
                    "label": int(amount + rng.normal() > 0),
                    "score": int(amount > 0),
                }
            )
    return rows


def snapshot_of(source: str, *, owner, team, attachments=()):
    model = model_create(
        owner=owner, team=team, name=f"monitor-{uuid.uuid4().hex[:6]}", source_name="model.py",
        source=source, attachments=list(attachments),
    )  # fmt: skip
    return model.latest_snapshot()


def embedded(rows: list[dict]) -> InputSpec:
    data = "".join(orjson.dumps(r).decode() + "\n" for r in rows)
    return InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data)


@pytest.mark.skipif(landlock_abi() < 1, reason="this kernel has no Landlock")
def test_a_modelop_drift_monitor_runs_sandboxed_and_its_metrics_are_stored(
    in_process_executor, alice, team_alpha
):
    schema = ContentFile(json.dumps(SCHEMA).encode(), name="input_schema.avsc")
    snapshot = snapshot_of(DRIFT_MONITOR, owner=alice, team=team_alpha, attachments=[schema])
    rows = records()
    job = job_submit(
        user=alice, snapshot=snapshot, job_type="metrics", inputs=[embedded(rows)],
        input_schema="input_schema.avsc",
    )  # fmt: skip

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message + job.log[-3000:]
    assert job.sandbox["on"] is True
    frame = pd.DataFrame(rows)
    baseline, sample = frame[frame.dataset == "baseline"], frame[frame.dataset == "sample"]
    m = job.metrics
    assert m["amount_ks_pvalue"] == pytest.approx(
        stats.ks_2samp(baseline.amount, sample.amount).pvalue
    )
    assert "purpose_js_distance" in m and "amount_js_distance" in m
    assert "purpose_ks_pvalue" not in m  # KS is for the numerical columns
    assert [t["test_type"] for t in m["data_drift"]] == ["kolmogorov_smirnov", "jensen_shannon"]
    assert m["stability"][0]["test_id"] == "stability_stability_analysis"
    assert {"amount_PSI", "purpose_PSI", "score_PSI"} <= set(m)
    assert "drift monitor done" in job.log


@pytest.mark.skipif(landlock_abi() < 1, reason="this kernel has no Landlock")
def test_a_scoring_model_imports_the_monitors_and_the_evaluator_inside_the_sandbox(
    in_process_executor, alice, team_alpha
):
    snapshot = snapshot_of(SCORING_WITH_MONITORS, owner=alice, team=team_alpha)
    job = job_submit(user=alice, snapshot=snapshot, inputs=[embedded([{"label": 1, "score": 1}])])

    job_execute(job_uuid=str(job.uuid))

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETE, job.error_message + job.log[-3000:]
    assert job.sandbox["on"] is True
    with job.output_asset().file.open("rb") as f:
        (record,) = [orjson.loads(line) for line in f]
    assert record == {"accuracy": 0.5, "generic_table": [{"a": 1}]}
