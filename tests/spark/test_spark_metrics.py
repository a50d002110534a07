"""Metrics jobs of pandas models on Spark through a real worker: the score function runs on
the executors, the evaluation on the driver; the same job on a process runtime (a worker of
its own, beside the Spark one) gives the same metrics."""

from __future__ import annotations

import uuid

import orjson
import pytest
from sklearn import metrics as sk

from jobs.models import JobAsset, JobStatus, Runtime
from jobs.services import InputSpec, job_submit
from tests.conftest import wait_for_job
from tests.test_e2e_metrics import SOURCE, _labeled, _snapshot, _upload
from tests.workers import runworker_start

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _process_runtime_row(queue: str) -> Runtime:
    runtime, _ = Runtime.objects.update_or_create(queue=queue, defaults={"name": queue})
    return runtime


# A worker of its own, with the Spark worker's short heartbeat periods (tests/workers.py FAST):
# the Spark worker's reconciler would take a slower worker for lost.
@pytest.fixture(scope="module")
def process_worker(spark_worker, django_db_setup, django_db_blocker, tmp_path_factory):
    queue = f"process-{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        worker = runworker_start(
            runtime=_process_runtime_row(queue),
            log_path=tmp_path_factory.mktemp("process") / "worker.log",
        )
    worker.queue = queue
    yield worker
    worker.stop()


@pytest.fixture
def process_runtime(process_worker, db):
    return _process_runtime_row(process_worker.queue)


def _both(process_runtime, spark_runtime, *, user, snapshot, inputs, params):
    """The same metrics job (loan.avsc's inputs) on the process runtime and on Spark, both
    COMPLETE."""
    asked = dict(user=user, snapshot=snapshot, job_type="metrics", inputs=inputs,
                 input_schema="loan.avsc", params=params)  # fmt: skip
    submitted = [job_submit(runtime=r, **asked) for r in (process_runtime, spark_runtime)]
    on_process, on_spark = (wait_for_job(job, timeout=300) for job in submitted)
    assert on_process.status == JobStatus.COMPLETE, on_process.log[-3000:]
    assert on_spark.status == JobStatus.COMPLETE, on_spark.log[-3000:]
    return on_process, on_spark


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _output(job) -> list[dict]:
    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def test_the_built_in_evaluator_on_spark_gives_the_process_runtimes_metrics(
    process_runtime, spark_runtime, alice, team_alpha
):
    # The per-record model scores the labeled CSV on the executors, in two splits; the
    # evaluator (performance, bias, permutation importance and SHAP through the model) runs
    # on the driver on what they give back.
    spark_runtime.spark_conf = {**spark_runtime.spark_conf,
                                "spark.sql.files.maxPartitionBytes": "600"}  # fmt: skip
    spark_runtime.save()
    frame = _labeled().drop(columns=["predicted"])  # the model gives the scores
    snapshot = _snapshot(alice, team_alpha)
    upload = _upload(alice, frame)

    on_process, on_spark = _both(
        process_runtime, spark_runtime, user=alice, snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=upload)],
        params={"evaluator": True, "probability_column": "probability"},
    )  # fmt: skip

    assert "'labeled.csv' read and scored" in on_spark.log
    assert on_spark.engine_progress["engine"] == "spark"
    metrics = on_spark.metrics
    assert {"auc", "accuracy", "confusion_matrix", "bias", "interpretability"} <= set(metrics)
    assert _without_timings(metrics) == _without_timings(on_process.metrics)
    assert metrics["interpretability"]["feature_importance"][0]["feature"] == "x"
    counts = ("records_read", "records_written", "records_rejected", "result")
    assert [getattr(on_spark, c) for c in counts] == [getattr(on_process, c) for c in counts]
    assert (on_spark.records_read, on_spark.records_written, on_spark.result) == (40, 1, "SUCCESS")
    assert _output(on_spark) == [metrics]


def test_scored_json_lines_are_evaluated_on_spark_without_running_model_code(
    process_runtime, spark_runtime, alice, team_alpha
):
    # The input has its scores: nothing to score, no interpretability asked for, so on Spark
    # the model is not even loaded (its init does not run). A line that cannot be decoded is
    # a reject on both runtimes, numbered alike.
    frame = _labeled()
    lines = [orjson.dumps(r).decode() for r in frame.to_dict("records")]
    lines[4] = '{"id": 4, "x": '
    source = "# modelop.init\ndef begin():\n    print('init ran')\n\n" + SOURCE
    snapshot = _snapshot(alice, team_alpha, source)

    on_process, on_spark = _both(
        process_runtime, spark_runtime, user=alice, snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data="\n".join(lines) + "\n",
                          format="jsonl")],
        params={"evaluator": True, "probability_column": "probability",
                "interpretability": False},
    )  # fmt: skip

    assert "init ran" in on_process.log and "init ran" not in on_spark.log
    assert "read, 5 of its 6 columns kept" in on_spark.log  # the columns with a role
    result = on_spark.metrics
    assert result == on_process.metrics
    rest = frame.drop(index=4)
    assert result["accuracy"] == pytest.approx(sk.accuracy_score(rest["approved"],
                                                                 rest["predicted"]))  # fmt: skip
    assert "feature_importance" not in result.get("interpretability", {})  # not asked for
    counts = ("records_read", "records_written", "records_rejected", "result")
    assert [getattr(on_spark, c) for c in counts] == [40, 1, 1, "FAILURE"]
    assert [getattr(on_process, c) for c in counts] == [40, 1, 1, "FAILURE"]
    rejects = []
    for job in (on_process, on_spark):
        with job.output_asset().rejects_file.open("rb") as f:
            rejects.append([orjson.loads(line) for line in f])
    assert [(r["record"], r["direction"]) for r in rejects[1]] == [(5, "input")]
    assert rejects[1][0]["asset"] == rejects[0][0]["asset"]


BATCH_WITH_METRICS = """\
# moc.batch: true
import pandas as pd

# modelop.score
def score(frame):
    yield pd.DataFrame({"id": frame["id"], "predicted": (frame["x"] > 4).astype(int)})

# modelop.metrics
def metrics(df):
    from pyspark import SparkContext

    yield {"rows": len(df), "ids": sorted(int(i) for i in df["id"]),
           "approved": int(df["approved"].sum()), "columns": sorted(df.columns),
           "jvm_left": SparkContext._gateway is not None, "accuracy": "the model's own"}
"""


def test_a_pandas_metrics_function_gets_all_records_of_an_input_as_one_frame_on_spark(
    spark_runtime, alice, team_alpha
):
    # Many splits, one call: all 40 labeled records in one DataFrame, on the driver once
    # Spark has ended. The evaluator runs beside it (the batch-mode model scores on the
    # executors); the model's own keys win.
    spark_runtime.spark_conf = {**spark_runtime.spark_conf,
                                "spark.sql.files.maxPartitionBytes": "300"}  # fmt: skip
    spark_runtime.save()
    frame = _labeled().drop(columns=["predicted"])
    job = job_submit(
        user=alice, snapshot=_snapshot(alice, team_alpha, BATCH_WITH_METRICS),
        job_type="metrics", runtime=spark_runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=_upload(alice, frame))],
        input_schema="loan.avsc", params={"evaluator": True, "interpretability": False},
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    result = job.metrics
    assert result["rows"] == 40 and result["ids"] == list(range(40))
    assert result["approved"] == int(frame["approved"].sum())
    assert result["columns"] == sorted(frame.columns)
    assert result["jvm_left"] is False
    assert result["accuracy"] == "the model's own"
    predicted = (frame["x"] > 4).astype(int)
    assert result["f1_score"] == pytest.approx(sk.f1_score(frame["approved"], predicted))
    assert (job.records_read, job.records_written) == (40, 1)
    assert _output(job) == [result]


def _csv(alice, frame, name: str):
    from django.core.files.base import ContentFile

    from jobs.models import Upload

    content = frame.to_csv(index=False).encode()
    upload = Upload(owner=alice, name=name, size=len(content))
    upload.file.save(name, ContentFile(content), save=False)
    upload.save()
    return upload


def test_data_drift_between_two_inputs_on_spark_is_the_process_runtimes(
    process_runtime, spark_runtime, alice, team_alpha
):
    # Each input is read and scored on its own; the evaluator gives one result per input and
    # the sample's has its drift from the baseline, computed on all their columns.
    baseline = _labeled().drop(columns=["predicted"])
    sample = baseline.assign(x=baseline["x"] + 3, sex="f")
    snapshot = _snapshot(alice, team_alpha)
    uploads = [_csv(alice, baseline, "baseline.csv"), _csv(alice, sample, "sample.csv")]

    on_process, on_spark = _both(
        process_runtime, spark_runtime, user=alice, snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.UPLOAD, upload=u) for u in uploads],
        params={"evaluator": True, "probability_column": "probability",
                "interpretability": False},
    )  # fmt: skip

    first, second = on_spark.metrics
    assert "data_drift" in second and "data_drift" not in first
    assert second["x_drift"] is True
    assert on_spark.metrics == on_process.metrics
    assert (on_spark.records_read, on_spark.records_written) == (80, 2)
    assert _output(on_spark) == on_spark.metrics
