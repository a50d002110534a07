"""The executor child's readers, writers and schema checks, run as a real subprocess."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models_registry import demo
from tests.jobs.test_executor_child import ECHO, jsonl, run_child

# --- Formats ---------------------------------------------------------------------------------


def test_a_json_file_with_one_record_per_line_is_read_as_json_lines(tmp_path):
    run = run_child(tmp_path, ECHO, {"in.json": jsonl({"a": 1}, {"a": 2})})
    assert run.output() == [{"a": 1}, {"a": 2}]


def test_a_malformed_json_array_fails_the_job_naming_the_line(tmp_path):
    run = run_child(tmp_path, ECHO, {"in.json": '[\n  {"a": 1},\n  {"a": }\n]\n'})
    assert run.returncode == 1
    assert run.final["message"] == (
        "input 'in.json': line 3: invalid JSON at column 9: "
        "unexpected character, expected a JSON value"
    )


def test_blank_lines_in_json_lines_are_not_records(tmp_path):
    run = run_child(tmp_path, ECHO, {"in.jsonl": '{"a": 1}\n\n   \n{"a": 2}\n\n'})
    assert run.output() == [{"a": 1}, {"a": 2}]


def test_csv_records_reach_score_with_native_python_types(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        yield {k: type(v).__name__ for k, v in datum.items()} | {"name": datum["name"]}
    """
    run = run_child(tmp_path, source, {"in.csv": "id,score,name\n1,0.5,ann\n2,1.5,bob\n"})
    assert run.returncode == 0, run.log
    assert run.output() == [
        {"id": "int", "score": "float", "name": "ann"},
        {"id": "int", "score": "float", "name": "bob"},
    ]


def test_parquet_input_is_read_in_batches(tmp_path):
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": list(range(10)), "s": [f"r{i}" for i in range(10)]}), buffer)
    run = run_child(tmp_path, ECHO, {"in.parquet": buffer.getvalue().to_pybytes()}, chunk_rows=3)
    assert run.returncode == 0, run.log
    assert run.output() == [{"x": i, "s": f"r{i}"} for i in range(10)]
    assert run.final["bytes_read"] == run.final["bytes_total"]


def test_output_can_be_csv_with_one_header(tmp_path):
    run = run_child(
        tmp_path,
        ECHO,
        {"in.jsonl": jsonl({"a": 1, "b": "x"}, {"a": 2, "b": "y"})},
        output="out.csv",
        output_format="csv",
        chunk_rows=1,
    )
    assert run.returncode == 0, run.log
    assert run.output_path.read_text() == "a,b\n1,x\n2,y\n"


def test_output_can_be_parquet(tmp_path):
    run = run_child(
        tmp_path,
        ECHO,
        {"in.jsonl": jsonl(*({"a": i} for i in range(5)))},
        output="out.parquet",
        output_format="parquet",
        chunk_rows=2,
    )
    assert run.returncode == 0, run.log
    assert pq.read_table(run.output_path).to_pylist() == [{"a": i} for i in range(5)]


def test_output_can_be_a_json_array(tmp_path):
    source = """
    # moc.batch: true
    # modelop.score
    def action(df):
        yield df
    """
    run = run_child(
        tmp_path,
        source,
        {"in.jsonl": jsonl(*({"a": i} for i in range(5)))},
        output="out.json",
        output_format="json",
        chunk_rows=2,
    )
    assert json.loads(run.output_path.read_text()) == [{"a": i} for i in range(5)]


def test_csv_output_of_values_that_are_not_records_fails_with_a_reason(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        return [1, 2]
    """
    run = run_child(
        tmp_path, source, {"in.jsonl": jsonl({"a": 1})}, output="out.csv", output_format="csv"
    )
    assert run.returncode == 1
    assert run.final["event"] == "error"
    assert run.final["message"].startswith("output 'out.csv': CSV holds records")


def test_a_malformed_json_line_is_rejected_with_its_line_and_the_job_goes_on(tmp_path):
    run = run_child(tmp_path, ECHO, {"scores.jsonl": '{"a": 1}\n\n{"a": \n{"a": 3}\n'})
    assert run.returncode == 0, run.log
    assert run.output() == [{"a": 1}, {"a": 3}]
    assert (run.final["records_read"], run.final["records_rejected"]) == (3, 1)
    assert run.rejects() == [
        {
            "direction": "input", "record": 2, "line": 3, "asset": "scores.jsonl",
            "reason": "invalid JSON at column 7: unexpected end of data", "data": '{"a": ',
        }
    ]  # fmt: skip
    assert "rejected input record 2 (line 3) of 'scores.jsonl': invalid JSON" in run.log


def test_a_malformed_csv_row_is_rejected_with_its_line_and_the_job_goes_on(tmp_path):
    text = "a,b,c,d\n" + "1,2,3,4\n" * 6 + "1,2,3,4,5\n" + "5,6,7,8\n"
    run = run_child(tmp_path, ECHO, {"scores.csv": text}, chunk_rows=3)
    assert run.returncode == 0, run.log
    assert run.output() == [{"a": 1, "b": 2, "c": 3, "d": 4}] * 6 + [
        {"a": 5, "b": 6, "c": 7, "d": 8}
    ]
    assert [(r["record"], r["line"], r["reason"], r["data"]) for r in run.rejects()] == [
        (7, 8, "Expected 4 fields, saw 5", "1,2,3,4,5")
    ]


@pytest.mark.parametrize("name, content", [("in.jsonl", ""), ("in.csv", ""), ("in.json", "[]")])
def test_empty_input_completes_with_zero_records(tmp_path, name, content):
    run = run_child(tmp_path, ECHO, {name: content})
    assert run.returncode == 0, run.log
    assert run.final["event"] == "done"
    assert (run.final["records_read"], run.final["records_written"]) == (0, 0)
    assert run.output_path.read_bytes() == b""


def test_csv_output_refuses_a_column_that_appears_after_the_header(tmp_path):
    run = run_child(
        tmp_path,
        ECHO,
        {"in.jsonl": jsonl({"a": 1}, {"a": 2, "b": 3})},
        output="out.csv",
        output_format="csv",
        chunk_rows=1,
    )
    assert run.returncode == 1
    assert run.final["message"] == (
        "output 'out.csv': column 'b' appears after the first records were written "
        "(the columns come from them: a)"
    )


# --- Schema checks -----------------------------------------------------------------------------

SCHEMA_FILES = {
    "input_schema.avsc": demo.schema("input_schema.avsc"),
    "output_schema.avsc": demo.schema("output_schema.avsc"),
}


def test_input_records_that_fail_the_schema_are_rejected_with_a_reason(tmp_path):
    good = {
        "id": 1,
        "sepal_length": 5.1,
        "sepal_width": 3.5,
        "petal_length": 1.4,
        "petal_width": 0.2,
    }
    wrong_type = {**good, "id": 2, "sepal_width": "wide"}
    missing = {k: v for k, v in good.items() if k != "petal_width"} | {"id": 3}
    run = run_child(
        tmp_path,
        ECHO,
        {"in.jsonl": jsonl(good, wrong_type, missing)},
        files=SCHEMA_FILES,
        input_schema="input_schema.avsc",
        check_input_schema=True,
    )
    assert run.returncode == 0, run.log
    assert run.output() == [good]
    assert (
        run.final["records_read"],
        run.final["records_written"],
        run.final["records_rejected"],
    ) == (3, 1, 2)
    assert run.rejects() == [
        {
            "direction": "input",
            "asset": "in.jsonl",
            "record": 2,
            "data": wrong_type,
            "reason": "field 'sepal_width' is 'wide' (str), expected double",
        },
        {
            "direction": "input",
            "asset": "in.jsonl",
            "record": 3,
            "data": missing,
            "reason": "field 'petal_width' is missing (expected double)",
        },
    ]


def test_output_records_that_fail_the_schema_are_not_written(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        yield {**datum, "predicted_species": datum.pop("species"), "probability": 0.9}
    """
    base = {
        "id": 1,
        "sepal_length": 5.1,
        "sepal_width": 3.5,
        "petal_length": 1.4,
        "petal_width": 0.2,
    }
    run = run_child(
        tmp_path,
        source,
        {"in.jsonl": jsonl({**base, "species": "setosa"}, {**base, "id": 2, "species": None})},
        files=SCHEMA_FILES,
        output_schema="output_schema.avsc",
        check_output_schema=True,
    )
    assert [r["id"] for r in run.output()] == [1]
    [reject] = run.rejects()
    assert reject["direction"] == "output"
    assert reject["record"] == 2
    assert reject["reason"] == "field 'predicted_species' is None (NoneType), expected string"
    assert run.final["records_rejected"] == 1


def test_batch_mode_rejects_failing_rows_and_scores_the_rest(tmp_path):
    rows = list(demo.sample_rows(5))
    rows[3]["sepal_length"] = "long"
    run = run_child(
        tmp_path,
        demo.source(),
        {"in.jsonl": jsonl(*rows)},
        source_name=demo.SOURCE_NAME,
        files={"model.pickle": demo.train_pickle(), **SCHEMA_FILES},
        input_schema="input_schema.avsc",
        check_input_schema=True,
        output_schema="output_schema.avsc",
        check_output_schema=True,
    )
    assert run.returncode == 0, run.log
    assert [r["id"] for r in run.output()] == [1, 2, 3, 5]
    assert [(r["direction"], r["record"]) for r in run.rejects()] == [("input", 4)]
