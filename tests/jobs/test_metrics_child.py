"""Metrics jobs in the executor child, run as a real subprocess on spec files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn import metrics

from tests.jobs.test_executor_child import ChildRun, jsonl, run_child


def run_metrics(
    workdir: Path,
    source: str,
    inputs: dict[str, str],
    *,
    params: dict | None = None,
    files: dict[str, str] | None = None,
    **schema_options,
) -> ChildRun:
    return run_child(
        workdir,
        source,
        inputs,
        files=files,
        job_type="metrics",
        output="metrics.jsonl",
        chunk_rows=3,  # several chunks: the metrics function must still get one DataFrame
        job={"id": "test", "jobParameters": params or {}},
        **schema_options,
    )


def metrics_event(run: ChildRun) -> list[dict]:
    (event,) = [e for e in run.events if e["event"] == "metrics"]
    return event["metrics"]


ROWS = [
    {"id": i, "x": i, "label": int(i % 3 == 0), "score": int(i % 2 == 0), "g": "ab"[i % 2]}
    for i in range(10)
]


def test_metrics_function_gets_all_records_as_one_dataframe(tmp_path):
    source = """
    import pandas as pd
    # modelop.metrics
    def metrics(df):
        yield {"type": type(df).__name__, "rows": len(df), "x_sum": int(df["x"].sum())}
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl(*ROWS)})
    assert run.returncode == 0, run.log
    assert metrics_event(run) == [{"type": "DataFrame", "rows": 10, "x_sum": 45}]
    assert run.output() == [{"type": "DataFrame", "rows": 10, "x_sum": 45}]
    assert run.final["event"] == "done"
    assert (run.final["records_read"], run.final["records_written"]) == (10, 1)


def test_init_runs_before_metrics(tmp_path):
    source = """
    SEEN = {}
    # modelop.init
    def begin(job):
        SEEN["id"] = job["id"]
    # modelop.metrics
    def metrics(df):
        return {"job": SEEN.get("id")}
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl(*ROWS)})
    assert run.returncode == 0, run.log
    assert metrics_event(run) == [{"job": "test"}]


def test_two_yielded_dicts_are_two_results_and_two_output_lines(tmp_path):
    source = """
    # modelop.metrics
    def metrics(df):
        yield {"n": len(df)}
        yield {"mean_x": float(df["x"].mean())}
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl(*ROWS)})
    assert run.returncode == 0, run.log
    assert metrics_event(run) == [{"n": 10}, {"mean_x": 4.5}]
    assert run.output() == [{"n": 10}, {"mean_x": 4.5}]


def test_a_returned_dict_with_numpy_values_becomes_json(tmp_path):
    source = """
    # modelop.metrics
    def metrics(df):
        return {"max": df["x"].max(), "values": df["x"].to_numpy()[:2]}
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl(*ROWS)})
    assert run.returncode == 0, run.log
    assert metrics_event(run) == [{"max": 9, "values": [0, 1]}]


def test_metrics_is_called_once_per_input_asset(tmp_path):
    source = """
    # modelop.metrics
    def metrics(df):
        yield {"rows": len(df), "first": int(df["x"].iloc[0])}
    """
    inputs = {"a.jsonl": jsonl(*ROWS[:4]), "b.csv": "x\n7\n8\n"}
    run = run_metrics(tmp_path, source, inputs)
    assert run.returncode == 0, run.log
    assert metrics_event(run) == [{"rows": 4, "first": 0}, {"rows": 2, "first": 7}]
    assert run.final["records_read"] == 6


def test_an_exception_in_metrics_names_the_function_and_the_input(tmp_path):
    source = """
    # modelop.metrics
    def compute(df):
        return {"z": df["missing"].sum()}
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl(*ROWS)})
    assert run.returncode == 1
    assert run.final["event"] == "error"
    assert run.final["message"] == (
        "metrics function 'compute' raised KeyError: 'missing' on the 10 records of 'in.jsonl'"
    )
    assert "Traceback" in run.log


def test_metrics_must_produce_dicts(tmp_path):
    source = """
    # modelop.metrics
    def metrics(df):
        yield [1, 2]
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl(*ROWS)})
    assert run.returncode == 1
    assert "metrics function 'metrics' produced a list" in run.final["message"]


SCHEMA = {
    "type": "record",
    "name": "labeled",
    "fields": [
        {"name": "id", "type": "int", "role": "identifier"},
        {"name": "x", "type": "int", "role": "predictor"},
        {"name": "g", "type": "string", "protectedClass": True},
        {"name": "label", "type": "int", "role": "label"},
        {"name": "score", "type": "int", "role": "score"},
    ],
}


def test_the_evaluator_measures_a_model_without_metrics_function(tmp_path):
    source = """
    # modelop.score
    def score(datum):
        yield {**datum, "score": int(datum["x"] % 2 == 0)}
    """
    run = run_metrics(
        tmp_path,
        source,
        {"in.jsonl": jsonl(*ROWS)},
        params={"evaluator": True},
        files={"schema.avsc": json.dumps(SCHEMA)},
        input_schema="schema.avsc",
    )
    assert run.returncode == 0, run.log
    (result,) = metrics_event(run)
    labels = [r["label"] for r in ROWS]
    scores = [r["score"] for r in ROWS]
    assert result["accuracy"] == pytest.approx(metrics.accuracy_score(labels, scores))
    assert result["f1_score"] == pytest.approx(metrics.f1_score(labels, scores))
    assert {row["group"] for row in result["bias"]} == {"a", "b"}
    importance = result["interpretability"]
    assert importance["method"] == "permutation"
    assert [f["feature"] for f in importance["feature_importance"]] == ["x"]
    assert run.output() == [result]


def test_the_evaluator_beside_the_model_metrics_lets_the_model_keys_win(tmp_path):
    source = """
    # modelop.metrics
    def metrics(df):
        yield {"accuracy": "mine", "rows": len(df)}
    """
    run = run_metrics(
        tmp_path,
        source,
        {"in.jsonl": jsonl(*ROWS)},
        params={"evaluator": True, "label_column": "label", "score_column": "score"},
    )
    assert run.returncode == 0, run.log
    (result,) = metrics_event(run)
    assert result["accuracy"] == "mine" and result["rows"] == 10
    assert result["recall"] == pytest.approx(
        metrics.recall_score([r["label"] for r in ROWS], [r["score"] for r in ROWS])
    )
    assert "interpretability" not in result  # no score function to ask


def test_the_evaluator_without_a_label_fails_saying_how_to_name_it(tmp_path):
    source = """
    # modelop.score
    def score(datum):
        yield datum
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl(*ROWS)}, params={"evaluator": True})
    assert run.returncode == 1
    assert "built-in evaluator failed" in run.final["message"]
    assert "label_column" in run.final["message"]


def test_permutation_importance_asks_a_batch_model_for_whole_dataframes(tmp_path):
    source = """
    # moc.batch: true
    # modelop.score
    def score(df):
        with open("calls.txt", "a") as f:
            f.write(f"{len(df)} ")
        out = df.copy()
        out["prediction"] = df["size"] * 2.0
        yield out
    """
    rows = [
        {"size": float(i), "color": i % 4, "price": i * 2.0 + (i % 3) / 10, "prediction": i * 2.0}
        for i in range(30)
    ]
    run = run_metrics(
        tmp_path,
        source,
        {"in.jsonl": jsonl(*rows)},
        params={
            "evaluator": True,
            "label_column": "price",
            "score_column": "prediction",
            "predictor_columns": ["size", "color"],
            "shap_rows": 0,  # SHAP would ask too: counted here are permutations only
        },
    )
    assert run.returncode == 0, run.log
    (result,) = metrics_event(run)
    prices, predictions = [r["price"] for r in rows], [r["prediction"] for r in rows]
    assert result["r2_score"] == pytest.approx(metrics.r2_score(prices, predictions))
    assert result["mae"] == pytest.approx(metrics.mean_absolute_error(prices, predictions))
    size, color = result["interpretability"]["feature_importance"]
    assert size["feature"] == "size" and size["importance"] > 0.5
    assert color == {"feature": "color", "importance": 0.0, "std": 0.0}
    # one baseline call, then 5 permutations of each of the 2 predictors, all rows each time
    assert (tmp_path / "calls.txt").read_text().split() == ["30"] * 11


def test_input_records_failing_the_schema_check_are_rejected_before_metrics(tmp_path):
    source = """
    # modelop.metrics
    def metrics(df):
        yield {"rows": len(df)}
    """
    schema = {"type": "record", "name": "r", "fields": [{"name": "x", "type": "int"}]}
    run = run_metrics(
        tmp_path,
        source,
        {"in.jsonl": jsonl({"x": 1}, {"x": "two"}, {"x": 3})},
        files={"schema.avsc": json.dumps(schema)},
        input_schema="schema.avsc",
        check_input_schema=True,
    )
    assert run.returncode == 0, run.log
    assert metrics_event(run) == [{"rows": 2}]
    assert run.final["records_rejected"] == 1
    (reject,) = run.rejects()
    assert (reject["record"], reject["asset"]) == (2, "in.jsonl")


BACKTEST_MODEL = """
# moc.batch: true
# modelop.score
def action(df):
    out = df.copy()
    out["prediction"] = (out["x"] > 5).astype(int)
    out["probability"] = (out["x"] / 10).clip(0, 1)
    yield out
"""
BACKTEST_OUTPUT_SCHEMA = {
    "type": "record",
    "name": "out",
    "fields": [
        {"name": "x", "type": "double"},
        {"name": "group", "type": "string", "protectedClass": True},
        {"name": "label", "type": "long", "role": "label"},
        {"name": "prediction", "type": "long", "role": "score"},
        {"name": "probability", "type": "double", "role": "score"},
    ],
}


def test_labeled_data_without_scores_is_scored_by_the_model_then_evaluated(tmp_path):
    """A back-test: the evaluator asks the model's score function for the scores, taking the
    score and probability columns from the output schema's roles."""
    xs = [1.0, 2.0, 7.0, 9.0, 4.0, 6.0, 8.0, 3.0]
    labels = [0, 0, 1, 1, 1, 0, 1, 0]
    groups = ["a", "b", "a", "b", "a", "b", "a", "b"]
    rows = "".join(
        json.dumps({"x": x, "group": g, "label": y}) + "\n"
        for x, g, y in zip(xs, groups, labels, strict=True)
    )
    input_schema = {**BACKTEST_OUTPUT_SCHEMA, "fields": BACKTEST_OUTPUT_SCHEMA["fields"][:3]}
    run = run_metrics(
        tmp_path,
        BACKTEST_MODEL,
        {"labeled.jsonl": rows},
        files={
            "in.avsc": json.dumps(input_schema),
            "out.avsc": json.dumps(BACKTEST_OUTPUT_SCHEMA),
        },
        input_schema="in.avsc",
        output_schema="out.avsc",
    )

    assert run.returncode == 0, run.log
    (result,) = metrics_event(run)
    predictions = [int(x > 5) for x in xs]
    assert result["accuracy"] == pytest.approx(metrics.accuracy_score(labels, predictions))
    assert result["auc"] == pytest.approx(metrics.roc_auc_score(labels, [x / 10 for x in xs]))
    assert {row["group"] for row in result["bias"]} == {"a", "b"}
    assert "scored it with 'action' first" in run.log
