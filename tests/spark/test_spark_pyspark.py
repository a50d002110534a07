"""ModelOp's PySpark contract, unchanged: a PySpark ML LogisticRegression trained on a CSV and
saved with model.save(path), then a scoring job with the trained snapshot."""

from __future__ import annotations

import orjson
import pytest

from jobs.models import JobAsset, JobStatus
from jobs.services import InputSpec, OutputSpec, job_submit
from tests.conftest import wait_for_job
from tests.workers import snapshot_of

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PYSPARK_MODEL = """\
from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import SparkSession


def _features(frame):
    return VectorAssembler(inputCols=["x"], outputCol="features").transform(frame)


# modelop.train
def train(external_inputs, external_outputs, external_model_assets):
    spark = SparkSession.builder.getOrCreate()
    print("app", spark.sparkContext.appName)
    frame = spark.read.csv(external_inputs[0]["fileUrl"], header=True, inferSchema=True)
    model = LogisticRegression(labelCol="label", featuresCol="features").fit(_features(frame))
    model.save(external_outputs[0]["fileUrl"])


# modelop.score
def score(external_inputs, external_outputs, external_model_assets):
    spark = SparkSession.builder.getOrCreate()
    folder = next(a["fileUrl"] for a in external_model_assets if a["name"] == "model")
    model = LogisticRegressionModel.load(folder)
    frame = spark.read.csv(external_inputs[0]["fileUrl"], header=True, inferSchema=True)
    scored = model.transform(_features(frame)).select("id", "prediction")
    scored.write.json(external_outputs[0]["fileUrl"])
"""


def test_a_pyspark_model_trains_and_its_snapshot_scores(spark_runtime, alice, team_alpha):
    snapshot = snapshot_of(PYSPARK_MODEL, owner=alice, team=team_alpha)
    rows = [(i, i / 10, int(i > 20)) for i in range(1, 41)]
    data = "id,x,label\n" + "".join(f"{i},{x},{y}\n" for i, x, y in rows)
    training = job_submit(
        user=alice, snapshot=snapshot, runtime=spark_runtime, job_type="training",
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data, format="csv")],
    )  # fmt: skip

    training = wait_for_job(training, timeout=300)

    assert training.status == JobStatus.COMPLETE, training.log[-3000:]
    assert f"app moc training job {training.uuid}" in training.log
    trained = training.result_snapshot
    assert [a.name for a in trained.attachments.all()] == ["model.sparkmodel.zip"]

    scoring = job_submit(
        user=alice, snapshot=trained, runtime=spark_runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data, format="csv")],
        output=OutputSpec(name="scores.jsonl", format="jsonl"),
    )  # fmt: skip
    scoring = wait_for_job(scoring, timeout=300)

    assert scoring.status == JobStatus.COMPLETE, scoring.log[-3000:]
    with scoring.output_asset().file.open("rb") as f:
        out = [orjson.loads(line) for line in f]
    assert sorted(r["id"] for r in out) == list(range(1, 41))
    assert {r["id"]: r["prediction"] for r in out} == {i: float(y) for i, _, y in rows}


SECRET_PROBE = """\
import json
import os
from pyspark.sql import SparkSession


# modelop.score
def score(external_inputs, external_outputs, external_model_assets):
    spark = SparkSession.builder.getOrCreate()
    seen = spark.conf.get("spark.moc.probe.secret", "")
    spec_beside = os.path.exists("../spark-secret.json")
    rows = [{"id": 1, "secret_seen": seen == "s3cr3t-value-42", "file_left": spec_beside,
             "master": spark.sparkContext.master}]
    spark.createDataFrame(rows).coalesce(1).write.json(external_outputs[0]["fileUrl"])
"""


def test_the_secret_configuration_reaches_the_session_and_nothing_else(
    spark_runtime, alice, team_alpha
):
    spark_runtime.spark_secret_conf = '{"spark.moc.probe.secret": "s3cr3t-value-42"}'
    spark_runtime.save()
    snapshot = snapshot_of(SECRET_PROBE, owner=alice, team=team_alpha)
    job = job_submit(
        user=alice, snapshot=snapshot, runtime=spark_runtime,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data='{"id": 1}\\n')],
    )  # fmt: skip

    job = wait_for_job(job, timeout=300)

    assert job.status == JobStatus.COMPLETE, job.log[-3000:]
    with job.output_asset().file.open("rb") as f:
        (row,) = [orjson.loads(line) for line in f]
    assert row == {"id": 1, "secret_seen": True, "file_left": False, "master": "local[2]"}
    assert "s3cr3t-value-42" not in job.log
