"""The schemas a Spark job reads and writes with, and the reasons of the CSV records that do
not fit them, without Spark (no Java needed)."""

from __future__ import annotations

import json

import pytest

from jobs.spark.executor import csv_misfit
from jobs.spark.schemas import _head, _plain_columns, avro_ddl, avro_types

SAMPLED = {
    "columns": [["id", "bigint", False], ["x", "bigint", False], ["ok", "boolean", False]],
    "schema": "",
    "sample": "the first 1 MiB of each file",
}
DECLARED = {
    "columns": [["x", "double", True], ["id", "bigint", False]],
    "schema": "in.avsc",
    "sample": "the first 1 MiB of each file",
}


def _avsc(tmp_path, fields) -> str:
    path = tmp_path / "s.avsc"
    path.write_text(json.dumps({"type": "record", "name": "r", "fields": fields}))
    return str(path)


def test_an_avro_record_of_primitives_is_a_spark_ddl_schema(tmp_path):
    path = _avsc(tmp_path, [{"name": "id", "type": "long"},
                            {"name": "a.b", "type": ["null", "double"]}])  # fmt: skip
    assert avro_ddl(path) == "`id` bigint, `a.b` double"


def test_a_field_that_is_no_primitive_has_no_spark_type_and_the_record_no_ddl(tmp_path):
    path = _avsc(tmp_path, [{"name": "id", "type": "long"},
                            {"name": "at", "type": {"type": "long",
                                                    "logicalType": "timestamp-millis"}}])  # fmt: skip
    assert avro_types(path) == {"id": "bigint", "at": None}
    assert avro_ddl(path) is None
    assert avro_types(str(tmp_path / "missing.avsc")) is None


def test_a_misfit_names_its_field_and_what_would_read_it():
    assert csv_misfit("7,1.5,true", "1", SAMPLED) == (
        "field 'x' is '1.5', not a long as its values in the first 1 MiB of each file were; "
        "attach an input schema (.avsc) that gives 'x' the type double, and choose it for the job"
    )
    assert "the type string" in csv_misfit("7,8,maybe", "2", SAMPLED)
    assert csv_misfit("wide,3", "0", DECLARED) == (
        "field 'x' is 'wide', expected double (the input schema in.avsc)"
    )


def test_a_record_with_more_fields_is_a_reject_and_one_with_fewer_is_not():
    assert csv_misfit("1,2,true,extra", "", SAMPLED) == "Expected 3 fields, saw 4"
    assert csv_misfit("1,2", "2", SAMPLED) is None  # its missing value is null
    assert csv_misfit("1,,true", "1", SAMPLED) == "cannot be decoded as a CSV record"


def test_a_files_sample_is_its_whole_lines_that_are_not_blank(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbfid,x\r\n1,2\n\n3,4\n5,6")
    assert _head(str(path), 100) == ["id,x", "1,2", "3,4", "5,6"]
    assert _head(str(path), 18) == ["id,x", "1,2", "3,4"]  # "5,6" may be cut short
    assert _head(str(path), 16) == ["id,x", "1,2"]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["1", "-3", "+4", "005", ""], "bigint"),
        (["1", "2.5", ".5", "NaN", "-Inf", "Infinity"], "double"),
        (["true", "FALSE"], "boolean"),
        (["true", "1"], "string"),
        (["n1", "abc", "nan"], "string"),
        (["", ""], "string"),
        # What Spark reads in ways of its own (a decimal, a date, a time, a double with
        # spaces): Spark is asked.
        (["1."], None),
        (["1.5e1"], None),
        (["2024-01-01"], None),
        (["T10:00"], None),
        ([" 5"], None),
        (["12345678901234567890"], None),
    ],
)
def test_a_plain_samples_types_are_sparks_or_left_to_spark(values, kind):
    # Each as Spark 4's inferSchema read it (int widened to bigint), checked against Spark.
    columns = _plain_columns(["id,c", *(f"{n},{v}" for n, v in enumerate(values))], infer=True)
    assert columns == (None if kind is None else [("id", "bigint"), ("c", kind)])


def test_a_sample_with_quotes_or_a_header_spark_renames_is_left_to_spark():
    assert _plain_columns(["id,c", '1,"a, b"'], infer=True) is None
    assert _plain_columns(["id,ID", "1,2"], infer=False) is None
    assert _plain_columns(["id,", "1,2"], infer=False) is None
    assert _plain_columns(["id,c", "1", "2,x,9"], infer=True) == [("id", "bigint"), ("c", "string")]
