"""Spark's output, a folder of part files committed by Spark's output committer (it has
_SUCCESS only when every task's output was committed), made into the one staged output file
the supervisor commits to the job's storage or its external target, as on every runtime."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from jobs.runner.errors import JobError

PARTS_FOLDER = "spark-output"  # beside the staged output file: Spark's committed part files
_SPARK_FORMAT = {"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet"}


def spark_format(fmt: str) -> str:
    return _SPARK_FORMAT.get(fmt, "json")


def parts_of(folder: Path, *, what: str) -> list[Path]:
    """The part files of a committed Spark output folder, in partition order."""
    if not (folder / "_SUCCESS").is_file():
        raise JobError(f"{what} was not committed by Spark (no _SUCCESS in its folder)")
    return sorted(p for p in folder.iterdir() if p.name.startswith("part-") and p.is_file())


def parts_join(folder: Path, dest: Path, *, fmt: str, columns: list[str], what: str) -> int:
    """Join the part files of FOLDER into DEST, in the output format FMT: JSON lines and CSV
    end to end (CSV parts are written without a header: it is written once here), Parquet as
    one file of the parts' row groups. The bytes written."""
    parts = parts_of(folder, what=what)
    if spark_format(fmt) == "parquet":
        import pyarrow.parquet as pq

        writer = None
        try:
            for part in parts:
                table = pq.read_table(part)
                if writer is None:
                    writer = pq.ParquetWriter(dest, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no part at all: an empty file of the columns
            import pyarrow as pa

            pq.write_table(pa.table({c: pa.array([], pa.null()) for c in columns}), dest)
        return dest.stat().st_size
    with open(dest, "wb") as out:
        if spark_format(fmt) == "csv":
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerow(columns)
            out.write(text.getvalue().encode())
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1024 * 1024)
    return dest.stat().st_size


def parts_rows(folder: Path, *, fmt: str, header: bool, what: str) -> int:
    """The records in the part files of a committed Spark output folder; HEADER: each CSV
    part starts with one."""
    total = 0
    for part in parts_of(folder, what=what):
        if spark_format(fmt) == "parquet":
            import pyarrow.parquet as pq

            total += pq.ParquetFile(part).metadata.num_rows
            continue
        with open(part, "rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        total += max(lines - 1, 0) if header and spark_format(fmt) == "csv" else lines
    return total


def parts_written(folder: Path, *, fmt: str, header: bool, written: int, what: str) -> int:
    """The records in the committed part files of FOLDER (parts_rows), checked against
    WRITTEN, the records the executors' tasks gave (an accumulator: Spark counts a result
    task's updates once, however often it ran). Fewer: parts committed where the driver does
    not see them, as on a cluster whose executors write to their own disks, where Spark's
    committer still writes _SUCCESS. (More is a CSV value with a line break in it: its
    record takes two lines.)"""
    found = parts_rows(folder, fmt=fmt, header=header, what=what)
    if found < written:
        raise JobError(
            f"{what}: the executors wrote {written:,} records but the committed part files in "
            f"the job's work dir hold {found:,}. On a cluster, the work dir (JOB_WORK_DIR) must "
            "be storage every executor and the worker share; the job's output was not kept"
        )
    return found
