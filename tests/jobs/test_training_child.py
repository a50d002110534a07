"""The executor child running training jobs, as a real subprocess on spec files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from tests.jobs.test_executor_child import ChildRun, run_child


@dataclass
class TrainingRun:
    run: ChildRun
    workdir: Path

    def __getattr__(self, name: str):  # returncode, events, log, final
        return getattr(self.run, name)

    @property
    def manifest_path(self) -> Path:
        return self.workdir / ".moc" / "staging" / "training.json"

    def manifest(self) -> dict:
        return json.loads(self.manifest_path.read_text())


def run_training(
    workdir: Path,
    source: str,
    inputs: dict[str, str],
    *,
    files: dict[str, str] | None = None,
    **schema_options,
) -> TrainingRun:
    run = run_child(
        workdir, source, inputs, files=files, job_type="training", chunk_rows=2, **schema_options
    )
    return TrainingRun(run=run, workdir=workdir)


A_CSV = "x,y\n1,2\n3,4\n5,6\n"
B_CSV = "x,y\n7,8\n"

TRAINS = """
import json

# modelop.init
def begin():
    global STARTED
    STARTED = True

# modelop.train
def train(df):
    assert STARTED, "init runs first"
    with open("outputDir/model.json", "w") as f:
        json.dump({"rows": len(df), "sum_x": int(df["x"].sum()), "type": type(df).__name__}, f)
    with open("outputDir/notes.txt", "w") as f:
        f.write("trained")
"""


def test_train_gets_all_inputs_as_one_dataframe_and_its_artifacts_are_listed(tmp_path):
    run = run_training(tmp_path, TRAINS, {"a.csv": A_CSV, "b.csv": B_CSV})

    assert run.returncode == 0, run.log
    assert run.final["event"] == "done"
    assert run.final["records_read"] == 4
    written = json.loads((tmp_path / "outputDir" / "model.json").read_text())
    assert written == {"rows": 4, "sum_x": 16, "type": "DataFrame"}
    manifest = run.manifest()
    assert manifest["artifacts"] == ["model.json", "notes.txt"]
    assert manifest["training_data"] == {
        "size": len(A_CSV) + len(B_CSV),
        "sha256": hashlib.sha256((A_CSV + B_CSV).encode()).hexdigest(),
        "rows": 4,
        "inputs": ["a.csv", "b.csv"],
    }


def test_a_train_function_that_writes_nothing_fails_the_job(tmp_path):
    source = """
    # modelop.train
    def train(df):
        pass
    """
    run = run_training(tmp_path, source, {"a.csv": A_CSV})

    assert run.returncode == 1
    assert run.final == {
        "event": "error",
        "message": "the train function 'train' wrote no artifacts into outputDir/",
        "peak_memory": run.final["peak_memory"],
    }
    assert not run.manifest_path.exists()


def test_a_train_function_that_raises_fails_the_job_with_its_error(tmp_path):
    source = """
    # modelop.train
    def fit(df):
        raise ValueError("no label column")
    """
    run = run_training(tmp_path, source, {"a.csv": A_CSV})

    assert run.returncode == 1
    assert run.final["message"] == "train function 'fit' raised ValueError: no label column"
    assert "Traceback" in run.log
    assert not run.manifest_path.exists()


def test_an_artifact_in_a_subfolder_is_refused_by_name(tmp_path):
    source = """
    import os

    # modelop.train
    def train(df):
        os.makedirs("outputDir/weights")
        with open("outputDir/weights/layer1.bin", "wb") as f:
            f.write(b"0")
    """
    run = run_training(tmp_path, source, {"a.csv": A_CSV})

    assert run.returncode == 1
    assert "'outputDir/weights'" in run.final["message"]
    assert "plain files" in run.final["message"]
    assert not run.manifest_path.exists()


SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "training",
        "fields": [{"name": "x", "type": "long"}, {"name": "y", "type": "long"}],
    }
)


def test_with_schema_checking_a_record_that_fails_is_left_out_of_the_training_data(tmp_path):
    run = run_training(
        tmp_path,
        TRAINS,
        {"a.jsonl": '{"x": 1, "y": 2}\n{"x": 3, "y": "oops"}\n{"x": 5, "y": 6}\n'},
        files={"schema.avsc": SCHEMA},
        input_schema="schema.avsc",
        check_input_schema=True,
    )

    assert run.returncode == 0, run.log
    assert json.loads((tmp_path / "outputDir" / "model.json").read_text())["rows"] == 2
    assert (run.final["records_read"], run.final["records_rejected"]) == (3, 1)
    rejects = [json.loads(line) for line in (tmp_path / ".moc/staging/rejects.jsonl").open()]
    assert [(r["asset"], r["record"], r["data"]["y"]) for r in rejects] == [("a.jsonl", 2, "oops")]
    assert run.manifest()["training_data"]["rows"] == 3


def test_inputs_with_no_records_fail_before_train_is_called(tmp_path):
    run = run_training(tmp_path, TRAINS, {"a.csv": "x,y\n"})

    assert run.returncode == 1
    assert run.final["message"] == (
        "there is no training data: the inputs hold no records to train on"
    )
    assert not (tmp_path / "outputDir" / "model.json").exists()
