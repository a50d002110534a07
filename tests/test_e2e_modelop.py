"""ModelOp-style monitors and models through a real Celery worker (PostgreSQL and Redis when
DATABASE_URL and BROKER_URL are set, the embedded default otherwise): a drift monitor on
modelop.monitors.drift and stability, a bias monitor on modelop.monitors.bias, a FastScore
.py3 model on two input slots."""

from __future__ import annotations

import orjson
import pytest
from scipy import stats

from jobs.models import JobStatus
from models_registry.services import model_create
from tests.conftest import wait_for_job
from tests.jobs.test_executor_supervisor import embedded, snapshot_of, submit

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DRIFT_MONITOR = """\
from modelop.monitors.drift import DriftDetector
from modelop.monitors.stability import StabilityMonitor
from modelop.utils import merge

# modelop.init
def init(job):
    pass

# modelop.metrics
def metrics(df_baseline, df_sample):
    drift = DriftDetector(df_baseline=df_baseline, df_sample=df_sample,
                          numerical_columns=["income"], categorical_columns=["region"])
    stability = StabilityMonitor(df_baseline=df_baseline, df_sample=df_sample,
                                 predictors=["income"], feature_dataclass={"income": "numerical"})
    yield merge(
        drift.calculate_drift(pre_defined_test="Kolmogorov-Smirnov"),
        drift.calculate_drift(pre_defined_test="Jensen-Shannon"),
        stability.compute_stability_indices(n_groups=5),
    )
"""

BIAS_MONITOR = """\
from modelop.monitors.bias import BiasMonitor

# modelop.metrics
def metrics(df):
    monitor = BiasMonitor(df, protected_class="gender", label_column="label",
                          score_column="score", reference_group="m", positive_label=1)
    yield monitor.compute_bias_metrics(pre_defined_test="aequitas_bias",
                                       thresholds={"min": 0.8, "max": 1.25})
"""

SLOTTED_PY3 = """\
# fastscore.slot.0: in-use
# fastscore.slot.2: in-use
# fastscore.slot.1: in-use

# fastscore.action
def act(datum, slot):
    yield {"id": datum["id"], "slot": slot}
"""


def _records(job) -> list[dict]:
    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line) for line in f]


def test_a_drift_monitor_on_modelops_monitors_gets_baseline_and_sample(
    celery_worker, alice, team_alpha
):
    baseline = [{"income": float(i % 50), "region": "n" if i % 3 else "s"} for i in range(400)]
    sample = [{"income": float(i % 50) + 12, "region": "n" if i % 2 else "s"} for i in range(300)]
    snapshot = snapshot_of(DRIFT_MONITOR, owner=alice, team=team_alpha)
    job = submit(alice, snapshot, embedded(*baseline), embedded(*sample), job_type="metrics")

    job = wait_for_job(job)

    assert job.status == JobStatus.COMPLETE, job.error_message + job.log[-2000:]
    assert job.sandbox["on"] is True
    metrics = job.metrics
    ks = stats.ks_2samp([r["income"] for r in baseline], [r["income"] for r in sample])
    assert metrics["income_ks_pvalue"] == pytest.approx(ks.pvalue)
    assert metrics["income_ks_pvalue"] < 0.05  # the sample drifted
    assert {t["test_category"] for t in metrics["data_drift"]} == {"data_drift"}
    assert len(metrics["data_drift"]) == 2
    assert metrics["income_PSI"] > 0.2
    assert [t["test_category"] for t in metrics["stability"]] == ["stability"]


def test_a_bias_monitor_on_modelops_monitors_flags_the_disparity(celery_worker, alice, team_alpha):
    # Men: 40 of 50 predicted positive; women: 10 of 50, so a ppr disparity of 0.25.
    rows = [
        {"gender": g, "label": int(i % 2 == 0), "score": int(i < (40 if g == "m" else 10))}
        for g in ("m", "f")
        for i in range(50)
    ]
    snapshot = snapshot_of(BIAS_MONITOR, owner=alice, team=team_alpha)

    job = wait_for_job(submit(alice, snapshot, embedded(*rows), job_type="metrics"))

    assert job.status == JobStatus.COMPLETE, job.error_message + job.log[-2000:]
    metrics = job.metrics
    assert metrics["gender_f_statistical_parity"] == pytest.approx(0.25)
    assert [t["test_category"] for t in metrics["bias"]] == ["bias"]


def test_a_fastscore_py3_model_gets_records_of_two_inputs_on_slots_0_and_2(
    celery_worker, alice, team_alpha
):
    snapshot = model_create(
        owner=alice, team=team_alpha, name="slots", source_name="model.py3", source=SLOTTED_PY3,
    ).latest_snapshot()  # fmt: skip

    job = wait_for_job(submit(alice, snapshot, embedded({"id": 1}), embedded({"id": 2})))

    assert job.status == JobStatus.COMPLETE, job.error_message + job.log[-2000:]
    assert _records(job) == [{"id": 1, "slot": 0}, {"id": 2, "slot": 2}]
