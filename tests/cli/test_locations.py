"""How `moc job create` reads its <input> and <output> words (no server needed)."""

from __future__ import annotations

import click
import pytest

from moc_cli.locations import input_spec, output_spec


def test_a_local_input_file_is_uploaded(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("id\n1\n")

    assert input_spec(str(path)) == path
    assert input_spec(str(path), embed=True) == {
        "kind": "embedded", "data": "id\n1\n", "name": "iris.csv", "format": "csv"
    }  # fmt: skip


def test_a_missing_input_file_is_a_usage_error():
    with pytest.raises(click.BadParameter, match="no file 'gone.csv'"):
        input_spec("gone.csv")


def test_s3_and_hdfs_inputs_carry_the_connection_and_format():
    assert input_spec("s3://bucket/prefix/", connection="lake", fmt="csv") == {
        "kind": "s3", "location": "s3://bucket/prefix/", "connection": "lake", "format": "csv"
    }  # fmt: skip
    assert input_spec("hdfs://nn/data/part.jsonl") == {
        "kind": "hdfs", "location": "hdfs://nn/data/part.jsonl"
    }  # fmt: skip


def test_sql_input_is_a_query_with_an_optional_connection_name():
    assert input_spec("sql:SELECT a::int, b FROM t WHERE c = ':x'") == {
        "kind": "sql", "query": "SELECT a::int, b FROM t WHERE c = ':x'"
    }  # fmt: skip
    assert input_spec("sql:warehouse:WITH x AS (SELECT 1) SELECT * FROM x") == {
        "kind": "sql", "query": "WITH x AS (SELECT 1) SELECT * FROM x", "connection": "warehouse"
    }  # fmt: skip
    assert input_spec("sql:select 1", connection="dw")["connection"] == "dw"
    with pytest.raises(click.BadParameter, match="says nothing after 'sql:'"):
        input_spec("sql:warehouse:")


def test_an_output_file_name_keeps_the_output_with_the_job_in_its_format():
    assert output_spec("out/scores.csv") == {"kind": "embedded", "name": "scores.csv",
                                             "format": "csv"}  # fmt: skip
    assert output_spec("scores.parquet")["format"] == "parquet"
    assert output_spec("scores.out", fmt="jsonl")["format"] == "jsonl"
    with pytest.raises(click.BadParameter, match="cannot tell the output format"):
        output_spec("scores.txt")


def test_external_outputs():
    assert output_spec("s3://b/out/scores.jsonl", write_mode="append") == {
        "kind": "s3", "location": "s3://b/out/scores.jsonl", "write_mode": "append"
    }  # fmt: skip
    assert output_spec("sql:analytics.predictions") == {
        "kind": "sql", "location": "analytics.predictions"
    }  # fmt: skip
    assert output_spec("sql:warehouse:predictions") == {
        "kind": "sql", "location": "predictions", "connection": "warehouse"
    }  # fmt: skip
