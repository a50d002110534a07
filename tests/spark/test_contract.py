"""Which contract a model follows on Spark, and what a Spark runtime refuses, read from the
source alone (no Java needed)."""

from __future__ import annotations

import pytest

from jobs.spark.contract import function_parameters, is_pyspark, spark_refusal

PYSPARK = """\
# modelop.train
def fit(external_inputs, external_outputs, external_model_assets):
    pass
"""


def test_the_pyspark_contract_is_told_by_its_signature():
    assert is_pyspark(function_parameters(PYSPARK, "fit"))
    assert is_pyspark(["inputs", "outputs", "assets"])
    assert not is_pyspark(function_parameters("def score(record):\n    pass\n", "score"))
    assert not is_pyspark(["a", "b", "c"])
    assert function_parameters("def (:", "score") is None


def test_a_pyspark_training_function_is_not_refused():
    assert spark_refusal(source=PYSPARK, functions={"train": "fit"}, job_type="training",
                         recordsets=False) is None  # fmt: skip


def test_recordsets_and_pandas_training_are_refused_with_a_reason():
    source = "def score(frame):\n    pass\ndef train(frame):\n    pass\n"
    functions = {"score": "score", "train": "train"}
    for job_type in ("scoring", "metrics"):  # a metrics job's evaluator may score with it
        refused = spark_refusal(source=source, functions=functions, job_type=job_type,
                                recordsets=True)  # fmt: skip
        assert "use batch mode" in refused
    assert "pandas training" in spark_refusal(
        source=source, functions=functions, job_type="training", recordsets=False
    )
    assert spark_refusal(source=source, functions=functions, job_type="scoring",
                         recordsets=False) is None  # fmt: skip


def test_pandas_metrics_functions_and_the_built_in_evaluator_are_not_refused():
    source = "def score(record):\n    pass\ndef metrics(frame):\n    pass\n"
    for functions in ({"score": "score"}, {"score": "score", "metrics": "metrics"}, {}):
        assert spark_refusal(source=source, functions=functions, job_type="metrics",
                             recordsets=False) is None  # fmt: skip
    # Without a score function recordsets mode changes nothing a metrics job runs.
    assert spark_refusal(source=source, functions={"metrics": "metrics"}, job_type="metrics",
                         recordsets=True) is None  # fmt: skip


def test_a_slotted_score_function_is_refused():
    source = "def score(record, slot):\n    pass\n"
    assert "slots are not supported" in spark_refusal(
        source=source, functions={"score": "score"}, job_type="scoring", recordsets=False
    )


@pytest.mark.django_db
def test_the_job_page_shows_a_spark_jobs_percentage_rate_and_eta(client, alice, alice_snapshot):
    from django.utils import timezone

    from jobs.models import Job, JobAsset, JobStatus
    from jobs.worker.supervisor import _engine_progress

    progress = _engine_progress({
        "engine": "spark", "stages_done": 0, "stages_total": 1, "tasks_done": 3,
        "tasks_total": 8, "percent": 37, "eta_seconds": 95, "rows_per_second": 1234,
        "rows_read": 40_000, "rows_written": 39_000, "bogus": "<script>",
    })  # fmt: skip
    job = Job.objects.create(
        snapshot=alice_snapshot, created_by=alice, status=JobStatus.RUNNING,
        started_at=timezone.now(), engine_progress=progress,
    )  # fmt: skip
    JobAsset.objects.create(job=job, direction="out", kind="embedded", name="output.jsonl")
    client.force_login(alice)

    page = client.get(job.get_absolute_url()).text

    assert "bogus" not in progress
    assert job.percent == 37.0 and job.eta_seconds == 95.0
    assert "tasks 3 of 8 (37%)" in page
    assert "1,234 rows/s" in page and "about 1m 35s left" in page
    assert 'value="37.0"' in page  # the job's progress bar follows Spark's tasks
