"""Floats in JSON output: the shortest text that reads back to the same double, as repr and
orjson write it (35.8, not 35.799999999999997), in every mode and for metrics."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pandas as pd
import pytest

from jobs.runner.writers import JsonLinesWriter
from tests.jobs.test_executor_child import jsonl, run_child
from tests.jobs.test_metrics_child import run_metrics

VALUES = {"a": 35.8, "b": 0.1 + 0.2, "c": 1e-300, "d": 1e300, "e": -0.0, "f": 1.0, "n": 7}
# What orjson (and so repr) writes for them, in this order.
LINE = b'{"a":35.8,"b":0.30000000000000004,"c":1e-300,"d":1e+300,"e":-0.0,"f":1.0,"n":7}'
MAKE = "dict(a=35.8, b=0.1 + 0.2, c=1e-300, d=1e300, e=-0.0, f=1.0, n=7)"


def same(value: dict) -> bool:
    """Equal to VALUES, types and the sign of zero included."""
    return (
        value == VALUES
        and [type(v) for v in value.values()] == [type(v) for v in VALUES.values()]
        and math.copysign(1, value["e"]) == -1
    )


def test_per_record_output_floats_are_written_in_their_shortest_form(tmp_path):
    source = f"""
    # modelop.score
    def action(datum):
        yield {MAKE}
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1})})
    assert run.returncode == 0, run.log
    assert run.output_path.read_bytes() == LINE + b"\n"
    assert same(run.output()[0])


@pytest.mark.parametrize("tag", ["# moc.batch: true", "# modelop.recordsets.0: true"])
def test_dataframe_output_floats_are_written_in_their_shortest_form(tmp_path, tag):
    source = f"""
    {tag}
    # modelop.recordsets.1: true
    import pandas as pd

    # modelop.score
    def action(df):
        return pd.DataFrame([{MAKE}] * len(df))
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1}, {"x": 2})})
    assert run.returncode == 0, run.log
    assert run.output_path.read_bytes() == (LINE + b"\n") * 2
    assert all(same(value) for value in run.output())


def test_a_dataframe_keeps_integer_columns_integers_and_writes_nan_as_null(tmp_path):
    source = """
    # moc.batch: true
    import numpy as np

    # modelop.score
    def action(df):
        return df.assign(score=[0.1, np.nan, 2 / 3], big=2**62)
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"id": 1}, {"id": 2}, {"id": 3})})
    assert run.returncode == 0, run.log
    assert run.output_path.read_text().splitlines() == [
        '{"id":1,"score":0.1,"big":4611686018427387904}',
        '{"id":2,"score":null,"big":4611686018427387904}',
        '{"id":3,"score":0.6666666666666666,"big":4611686018427387904}',
    ]


def test_infinity_in_a_dataframe_still_rejects_its_row(tmp_path):
    source = """
    # moc.batch: true

    # modelop.score
    def action(df):
        return df.assign(score=[0.5, float("inf")])
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"id": 1}, {"id": 2})})
    assert run.output() == [{"id": 1, "score": 0.5}]
    (reject,) = run.rejects()
    assert reject["record"] == 2
    assert reject["reason"] == "cannot be encoded as JSON: field 'score' is inf"


def test_nan_in_a_per_record_value_is_still_rejected(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        yield {"id": datum["id"], "score": float("nan") if datum["id"] == 2 else 35.8}
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"id": 1}, {"id": 2})})
    assert run.output_path.read_bytes() == b'{"id":1,"score":35.8}\n'
    (reject,) = run.rejects()
    assert reject["reason"] == "cannot be encoded as JSON: field 'score' is nan"


def test_metrics_output_floats_are_written_in_their_shortest_form(tmp_path):
    source = f"""
    # modelop.metrics
    def metrics(df):
        yield {MAKE}
    """
    run = run_metrics(tmp_path, source, {"in.jsonl": jsonl({"x": 1})})
    assert run.returncode == 0, run.log
    assert run.output_path.read_bytes() == LINE + b"\n"


def test_every_double_of_a_dataframe_reads_back_the_same(tmp_path):
    rng = np.random.default_rng(13)
    doubles = np.concatenate(
        [rng.random(2000), rng.normal(0, 1e6, 2000), 10.0 ** rng.uniform(-300, 300, 2000)]
    )
    float32s = rng.random(len(doubles)).astype("float32")
    writer = JsonLinesWriter(path=str(tmp_path / "out.jsonl"), name="out")
    writer.write_frame(pd.DataFrame({"x": doubles, "y": float32s}))
    writer.close()
    back = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [r["x"] for r in back] == doubles.tolist()
    # A float32 is written as its own shortest form, which reads back to the same float32.
    assert np.array([r["y"] for r in back], dtype="float32").tolist() == float32s.tolist()


def test_dataframe_records_stay_one_a_line_whatever_their_text(tmp_path, monkeypatch):
    monkeypatch.setattr("jobs.runner.writers._FRAME_ROWS", 2)  # several pieces of a frame
    frame = pd.DataFrame(
        {"s": ["a\nb", "},{", ",\n,", "é"], "n": [{"k": "x\ny"}, [1.5], None, {"z": 0.1}]}
    )
    writer = JsonLinesWriter(path=str(tmp_path / "out.jsonl"), name="out")
    writer.write_frame(frame)
    writer.close()
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == frame.to_dict("records")
