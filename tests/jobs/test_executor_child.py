"""The executor child, run as a real subprocess on spec files in a temporary work dir.

No database here: the child knows nothing of Django, only its spec.json and its work dir.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from django.conf import settings

from jobs.runner.smarttags import parse_smart_tags
from jobs.runner.spec import InputFile, JobSpec
from jobs.worker.process import child_environment
from models_registry import demo


@dataclass
class ChildRun:
    returncode: int
    events: list[dict]
    log: str
    output_path: Path
    rejects_path: Path

    @property
    def final(self) -> dict:
        return self.events[-1]

    def output(self) -> list:
        return [orjson.loads(line) for line in self.output_path.read_bytes().splitlines()]

    def rejects(self) -> list[dict]:
        return [orjson.loads(line) for line in self.rejects_path.read_bytes().splitlines()]


def run_child(
    workdir: Path,
    source: str,
    inputs: dict[str, bytes | str],
    *,
    formats: dict[str, str] | None = None,
    output: str = "output.jsonl",
    output_format: str = "jsonl",
    files: dict[str, bytes | str] | None = None,
    source_name: str = "model.py",
    chunk_rows: int = 1000,
    job: dict | None = None,
    job_type: str = "scoring",
    **schema_options,
) -> ChildRun:
    """Write SOURCE, FILES and INPUTS into WORKDIR, run the child there, collect its events."""
    own = workdir / ".moc"
    (own / "staging").mkdir(parents=True)
    (own / "tmp").mkdir()
    source = textwrap.dedent(source)
    (workdir / source_name).write_text(source)
    for name, content in (files or {}).items():
        (workdir / name).write_bytes(content.encode() if isinstance(content, str) else content)
    input_files = []
    for name, content in inputs.items():
        path = own / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        fmt = (formats or {}).get(name) or Path(name).suffix.lstrip(".")
        input_files.append(InputFile(name=name, path=str(path), format=fmt))
    spec = JobSpec(
        source=source_name,
        smart_tags=parse_smart_tags(source, filename=source_name).as_dict(),
        job_type=job_type,
        inputs=input_files,
        output_name=output,
        output_path=str(own / "staging" / output),
        output_format=output_format,
        rejects_path=str(own / "staging" / "rejects.jsonl"),
        chunk_rows=chunk_rows,
        job=job or {"id": "test"},
        **schema_options,
    )
    spec.write(own / "spec.json")
    log_path = own / "job.log"
    with open(log_path, "wb") as log:
        done = subprocess.run(
            [sys.executable, "-m", "jobs.runner.child", str(own / "spec.json")],
            cwd=workdir,
            env=child_environment(pythonpath=str(settings.BASE_DIR), tmpdir=str(own / "tmp")),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            timeout=120,
        )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return ChildRun(
        returncode=done.returncode,
        events=events,
        log=log_path.read_text(),
        output_path=Path(spec.output_path),
        rejects_path=Path(spec.rejects_path),
    )


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


ECHO = """
# modelop.score
def action(datum):
    yield datum
"""


# --- Per-record (ModelOp's default) ------------------------------------------------------------


def test_per_record_score_gets_each_record_as_a_dict(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        yield {"type": type(datum).__name__, "x2": datum["x"] * 2}
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1}, {"x": 2}, {"x": 3})})
    assert run.returncode == 0, run.log
    assert run.output() == [
        {"type": "dict", "x2": 2},
        {"type": "dict", "x2": 4},
        {"type": "dict", "x2": 6},
    ]
    assert run.final == {
        "event": "done",
        "records_read": 3,
        "records_written": 3,
        "records_rejected": 0,
        "bytes_read": run.final["bytes_total"],
        "bytes_total": len(jsonl({"x": 1}, {"x": 2}, {"x": 3})),
        "peak_memory": run.final["peak_memory"],
    }


def test_a_generator_may_yield_zero_one_or_many_records_per_input(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        for i in range(datum["n"]):
            yield {"n": datum["n"], "i": i}
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"n": 0}, {"n": 1}, {"n": 3})})
    assert run.output() == [{"n": 1, "i": 0}, {"n": 3, "i": 0}, {"n": 3, "i": 1}, {"n": 3, "i": 2}]
    assert (run.final["records_read"], run.final["records_written"]) == (3, 4)


def test_a_returned_value_is_one_output_record(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        return {"y": datum["x"] + 1}
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1}, {"x": 5})})
    assert run.output() == [{"y": 2}, {"y": 6}]


def test_returning_none_writes_nothing(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        if datum["keep"]:
            return datum
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"keep": True}, {"keep": False})})
    assert run.output() == [{"keep": True}]
    assert (run.final["records_read"], run.final["records_written"]) == (2, 1)


def test_a_returned_list_stays_one_line_holding_a_list(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        return [datum["x"], datum["x"] * 10]
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1}, {"x": 2})})
    assert run.output() == [[1, 10], [2, 20]]


def test_numpy_and_pandas_values_are_written_as_plain_json(tmp_path):
    source = """
    import numpy as np, pandas as pd
    # modelop.score
    def action(datum):
        yield {"f": np.float32(0.5), "i": np.int64(7), "a": np.arange(3),
               "t": pd.Timestamp("2024-05-01T12:00:00"), "missing": pd.NA}
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1})})
    assert run.output() == [
        {"f": 0.5, "i": 7, "a": [0, 1, 2], "t": "2024-05-01T12:00:00", "missing": None}
    ]


def test_a_json_array_file_is_handed_to_score_whole_in_one_call(tmp_path):
    source = """
    calls = 0
    # modelop.score
    def action(data):
        global calls
        calls += 1
        yield {"calls": calls, "type": type(data).__name__, "total": sum(d["x"] for d in data)}
    """
    array = json.dumps([{"x": 1}, {"x": 2}, {"x": 3}], indent=2)
    run = run_child(tmp_path, source, {"in.json": array}, formats={"in.json": "jsonl"})
    assert run.returncode == 0, run.log
    assert run.output() == [{"calls": 1, "type": "list", "total": 6}]
    assert run.final["records_read"] == 3


# --- Recordsets and batch -------------------------------------------------------------------


def test_recordsets_hand_all_input_to_score_as_one_dataframe(tmp_path):
    source = """
    # modelop.recordsets.0: true
    # modelop.recordsets.1: true
    calls = 0
    # modelop.score
    def action(df):
        global calls
        calls += 1
        df["calls"] = calls
        df["rows"] = len(df)
        yield df
    """
    rows = [{"x": i} for i in range(25)]
    run = run_child(
        tmp_path, source, {"a.jsonl": jsonl(*rows[:10]), "b.jsonl": jsonl(*rows[10:])}, chunk_rows=4
    )
    assert run.returncode == 0, run.log
    assert run.output() == [{"x": i, "calls": 1, "rows": 25} for i in range(25)]


def test_recordsets_without_recordsets_out_write_a_yielded_value_as_is(tmp_path):
    source = """
    # modelop.recordsets.0: true
    # modelop.score
    def action(df):
        yield {"mean": float(df["x"].mean())}
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1}, {"x": 3})})
    assert run.output() == [{"mean": 2.0}]


def test_batch_mode_scores_the_demo_model_chunk_by_chunk(tmp_path):
    rows = list(demo.sample_rows())
    run = run_child(
        tmp_path,
        demo.source(),
        {"iris.jsonl": jsonl(*rows)},
        source_name=demo.SOURCE_NAME,
        files={"model.pickle": demo.train_pickle()},
        chunk_rows=40,
    )
    assert run.returncode == 0, run.log
    output = run.output()
    assert [r["id"] for r in output] == [r["id"] for r in rows]
    truth = demo.iris_frame()["species"].tolist()
    accuracy = sum(o["predicted_species"] == t for o, t in zip(output, truth, strict=True)) / 150
    assert accuracy > 0.9
    assert all(0.3 < o["probability"] <= 1 for o in output)


def test_the_demo_model_gives_the_same_scores_per_record_as_in_batch(tmp_path):
    per_record_source = demo.source().replace("# moc.batch: true\n", "")
    assert not parse_smart_tags(per_record_source).batch
    rows = jsonl(*demo.sample_rows(60))
    files = {"model.pickle": demo.train_pickle()}
    batch = run_child(tmp_path / "batch", demo.source(), {"in.jsonl": rows}, files=files)
    single = run_child(tmp_path / "single", per_record_source, {"in.jsonl": rows}, files=files)
    assert single.returncode == 0, single.log
    assert single.output() == batch.output()
    assert len(single.output()) == 60


def test_batch_mode_writes_a_list_of_dicts_as_records(tmp_path):
    source = """
    # moc.batch: true
    # modelop.score
    def action(df):
        return [{"x": int(x), "rows_in_chunk": len(df)} for x in df["x"]]
    """
    run = run_child(
        tmp_path, source, {"in.jsonl": jsonl(*({"x": i} for i in range(5)))}, chunk_rows=3
    )
    assert run.output() == [
        {"x": 0, "rows_in_chunk": 3},
        {"x": 1, "rows_in_chunk": 3},
        {"x": 2, "rows_in_chunk": 3},
        {"x": 3, "rows_in_chunk": 2},
        {"x": 4, "rows_in_chunk": 2},
    ]


# --- Errors a person can act on -----------------------------------------------------------------


def test_a_model_exception_rejects_that_record_names_it_and_logs_the_traceback(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        return datum["x"]
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1}, {"y": 3}, {"x": 2})})
    assert run.returncode == 0, run.log
    assert run.output() == [1, 2]
    assert (run.final["records_read"], run.final["records_rejected"]) == (3, 1)
    assert run.rejects() == [
        {
            "direction": "input", "record": 2, "asset": "in.jsonl", "data": {"y": 3},
            "reason": "score function 'action' raised KeyError: 'x'",
        }
    ]  # fmt: skip
    assert "Traceback (most recent call last)" in run.log
    assert 'return datum["x"]' in run.log
    assert "rejected input record 2 of 'in.jsonl': score function 'action' raised" in run.log


def test_a_model_exception_with_stop_on_bad_records_fails_naming_the_record(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        return datum["x"]
    """
    inputs = {"in.jsonl": jsonl({"x": 1}, {"x": 2}, {"y": 3})}
    run = run_child(tmp_path, source, inputs, stop_on_bad_records=True)
    assert run.returncode == 1
    assert run.final["message"] == (
        "stopped on the first bad record: input record 3 of 'in.jsonl': "
        "score function 'action' raised KeyError: 'x'"
    )
    assert "Traceback (most recent call last)" in run.log


def test_an_init_failure_names_the_init_function(tmp_path):
    source = """
    import pickle
    # modelop.init
    def begin():
        global model
        model = pickle.load(open("model.pickle", "rb"))

    # modelop.score
    def action(datum):
        yield datum
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1})})
    assert run.returncode == 1
    assert run.final["message"].startswith("init function 'begin' failed: FileNotFoundError:")
    assert "model.pickle" in run.final["message"]


def test_a_source_that_fails_to_import_says_so(tmp_path):
    source = """
    import not_a_module_anyone_has
    # modelop.score
    def action(datum):
        yield datum
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1})})
    assert run.final["message"] == (
        "the model source 'model.py' failed to load: ModuleNotFoundError: "
        "No module named 'not_a_module_anyone_has'"
    )


# --- The process around the model ------------------------------------------------------------------


def test_print_in_the_model_goes_to_the_log_not_the_event_channel(tmp_path):
    source = """
    import os
    # modelop.init
    def begin():
        print("hello from init")
        os.system("echo hello from a subprocess")

    # modelop.score
    def action(datum):
        print("scoring", datum)
        yield datum
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1})})
    assert run.returncode == 0, run.log
    assert [e["event"] for e in run.events][-1] == "done"
    assert "hello from init" in run.log
    assert "hello from a subprocess" in run.log
    assert "scoring {'x': 1}" in run.log


def test_an_init_with_one_parameter_gets_the_job_description(tmp_path):
    source = """
    import json
    # modelop.init
    def begin(init_param):
        global job
        job = json.loads(init_param["rawJson"])
        job["direct"] = init_param["jobParameters"]

    # modelop.score
    def action(datum):
        yield job
    """
    description = {"id": "j-1", "jobParameters": {"threshold": 0.5}}
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1})}, job=description)
    assert run.output() == [{**description, "direct": {"threshold": 0.5}}]


def test_a_helper_module_attached_to_the_model_can_be_imported(tmp_path):
    source = """
    import helpers
    # modelop.score
    def action(datum):
        yield {"y": helpers.double(datum["x"])}
    """
    helper = b"def double(x):\n    return 2 * x\n"
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 21})}, files={"helpers.py": helper})
    assert run.output() == [{"y": 42}]


def test_progress_events_come_while_a_slow_model_runs(tmp_path):
    source = """
    import time
    # modelop.score
    def action(datum):
        time.sleep(0.002)
        yield datum
    """
    run = run_child(
        tmp_path, source, {"in.jsonl": jsonl(*({"x": i} for i in range(600)))}, chunk_rows=100
    )
    progress = [e for e in run.events if e["event"] == "progress"]
    read = [e["records_read"] for e in progress]
    assert len([n for n in read if n < 600]) >= 2  # reported while scoring, not only at the end
    assert read == sorted(read)
    assert run.final["records_read"] == 600


def test_the_child_imports_no_django(tmp_path):
    source = """
    import sys
    # modelop.score
    def action(datum):
        yield sorted(name for name in sys.modules if name.split(".")[0] == "django")
    """
    run = run_child(tmp_path, source, {"in.jsonl": jsonl({"x": 1})})
    assert run.output() == [[]]


@pytest.mark.parametrize("tags", ["", "# moc.batch: true"], ids=["per-record", "batch"])
def test_a_streamed_input_is_read_into_memory_given_back_when_freed(tmp_path, tags):
    # glibc's, not mimalloc's, which keeps what the read-ahead freed (readers.py).
    source = f"""
    {tags}
    import pyarrow
    # modelop.score
    def action(datum):
        yield {{"pool": pyarrow.default_memory_pool().backend_name}}
    """
    run = run_child(tmp_path, source, {"in.csv": "x\n1\n"})
    assert run.returncode == 0, run.log
    assert run.output() == [{"pool": "system"}]


def test_an_input_read_whole_keeps_arrows_own_memory_pool(tmp_path):
    source = """
    # modelop.recordsets.0: true
    import pyarrow
    # modelop.score
    def action(df):
        yield {"pool": pyarrow.default_memory_pool().backend_name}
    """
    run = run_child(tmp_path, source, {"in.csv": "x\n1\n"})
    assert run.returncode == 0, run.log
    assert run.output()[0]["pool"] != "system"


def test_several_inputs_are_scored_in_order_and_errors_name_the_input(tmp_path):
    source = """
    # modelop.score
    def action(datum):
        yield {"y": 10 // datum["x"]}
    """
    good = run_child(tmp_path / "good", source, {"a.jsonl": jsonl({"x": 1}), "b.csv": "x\n2\n5\n"})
    assert good.output() == [{"y": 10}, {"y": 5}, {"y": 2}]
    bad = run_child(
        tmp_path / "bad", source, {"a.jsonl": jsonl({"x": 1}), "b.csv": "x\n2\n0\n"},
        stop_on_bad_records=True,
    )  # fmt: skip
    assert bad.final["message"] == (
        "stopped on the first bad record: input record 2 of 'b.csv': score function 'action' "
        "raised ZeroDivisionError: integer division or modulo by zero"
    )
