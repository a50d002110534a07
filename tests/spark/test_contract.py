"""Which contract a model follows on Spark, and what a Spark runtime refuses, read from the
source alone (no Java needed)."""

from __future__ import annotations

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


def test_recordsets_and_pandas_training_and_metrics_are_refused_with_a_reason():
    source = "def score(frame):\n    pass\ndef train(frame):\n    pass\n"
    functions = {"score": "score", "train": "train"}
    recordsets = spark_refusal(source=source, functions=functions, job_type="scoring",
                               recordsets=True)  # fmt: skip
    assert "use batch mode" in recordsets
    assert "pandas training" in spark_refusal(
        source=source, functions=functions, job_type="training", recordsets=False
    )
    assert "built-in evaluator" in spark_refusal(
        source=source, functions=functions, job_type="metrics", recordsets=False
    )
    assert spark_refusal(source=source, functions=functions, job_type="scoring",
                         recordsets=False) is None  # fmt: skip


def test_a_slotted_score_function_is_refused():
    source = "def score(record, slot):\n    pass\n"
    assert "slots are not supported" in spark_refusal(
        source=source, functions={"score": "score"}, job_type="scoring", recordsets=False
    )
