"""A Spark job's committed part files, counted and checked against what its executors wrote
(jobs/spark/outputs.py). No Java needed: the folders are made as Spark's committer leaves them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.runner.errors import JobError
from jobs.spark.outputs import parts_written


def _committed(folder, parts: dict[str, bytes]):
    folder.mkdir()
    for name, data in parts.items():
        (folder / name).write_bytes(data)
    (folder / "_SUCCESS").write_bytes(b"")
    return folder


def test_the_parts_hold_what_the_executors_wrote(tmp_path):
    jsonl = _committed(tmp_path / "json", {"part-00000.json": b'{"id": 1}\n{"id": 2}\n',
                                           "part-00001.json": b'{"id": 3}\n'})  # fmt: skip
    assert parts_written(jsonl, fmt="jsonl", header=False, written=3, what="out") == 3
    csv = _committed(
        tmp_path / "csv", {"part-00000.csv": b"id\n1\n2\n", "part-00001.csv": b"id\n3\n"}
    )
    assert parts_written(csv, fmt="csv", header=True, written=3, what="out") == 3
    folder = tmp_path / "parquet"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3]}), folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    assert parts_written(folder, fmt="parquet", header=False, written=3, what="out") == 3


def test_parts_the_driver_does_not_see_end_the_job_in_error(tmp_path):
    # A cluster whose executors commit to their own disks: the driver's folder has _SUCCESS
    # and none of their parts (or some of them).
    only_success = _committed(tmp_path / "none", {})
    with pytest.raises(JobError) as raised:
        parts_written(
            only_success, fmt="jsonl", header=False, written=1500, what="the job's output"
        )
    message = str(raised.value)
    assert "1,500 records" in message and "hold 0" in message and "JOB_WORK_DIR" in message
    some = _committed(tmp_path / "some", {"part-00000.json": b'{"id": 1}\n'})
    with pytest.raises(JobError, match="wrote 2 records .* hold 1"):
        parts_written(some, fmt="jsonl", header=False, written=2, what="the job's output")


def test_a_csv_value_with_a_line_break_is_not_taken_for_a_lost_record(tmp_path):
    csv = _committed(tmp_path / "csv", {"part-00000.csv": b'id,note\n1,"two\nlines"\n2,x\n'})
    assert parts_written(csv, fmt="csv", header=True, written=2, what="out") >= 2


def test_an_uncommitted_folder_is_no_output(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-00000.json").write_bytes(b'{"id": 1}\n')
    with pytest.raises(JobError, match="not committed by Spark"):
        parts_written(folder, fmt="jsonl", header=False, written=1, what="the job's output")
