"""Reading ahead (jobs/runner/ahead.py): the next Arrow batches of a CSV or Parquet input are
read by a thread while the current one is scored, and a recordsets input is read whole while
the model's init runs. The records, their types and their numbers stay those of the readers
that read on the job's thread. Readers are called directly here: the data path only."""

from __future__ import annotations

import datetime
import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.runner.ahead import Ahead
from jobs.runner.errors import JobError
from tests.jobs.test_readers_by_bytes import big_csv, frames_of, open_input, records, same_records


def typed_table(rows: int = 5000) -> pa.Table:
    """Every kind of column a Parquet input commonly has, with missing values."""
    ids = list(range(rows))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "n": pa.array([None if i % 7 == 0 else i for i in ids], pa.int64()),
            "x": pa.array([None if i % 5 == 0 else i / 3 for i in ids], pa.float64()),
            "s": pa.array([None if i % 3 == 0 else f"é{i}☃" for i in ids], pa.string()),
            "b": pa.array([None if i % 4 == 0 else i % 2 == 0 for i in ids], pa.bool_()),
            "d": pa.array([datetime.date(2024, 1, 1 + i % 28) for i in ids], pa.date32()),
            "t": pa.array(
                [None if i % 6 == 0 else datetime.datetime(2024, 1, 2, 3, 4, i % 60) for i in ids],
                pa.timestamp("us"),
            ),
        }
    )


def test_a_csv_file_read_ahead_in_many_batches_gives_what_pandas_reads(tmp_path):
    path = tmp_path / "in.csv"
    frame = big_csv(path, rows=20_000)
    reader, frames, numbers = frames_of(path, chunk_bytes=4096)
    assert reader.read_by == "pyarrow"
    assert len(frames) > 20  # more than the batches read ahead: the thread waited for room
    _, before, _ = frames_of(path)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), frame)
    assert same_records(records(frames), records(before))
    assert numbers == list(range(1, len(frame) + 1))
    assert reader.bytes_read == reader.size


def test_parquet_batches_read_ahead_keep_their_types_and_missing_values(tmp_path):
    path = tmp_path / "in.parquet"
    table = typed_table()
    pq.write_table(table, path, row_group_size=700)
    reader, frames, numbers = frames_of(path, chunk_bytes=8192)
    assert len(frames) > 10
    assert same_records(records(frames), records([table.to_pandas()]))
    assert numbers == list(range(1, table.num_rows + 1))


@pytest.mark.parametrize("prefetched", [False, True], ids=["read-then", "read-during-init"])
def test_a_recordsets_parquet_input_read_whole_is_what_its_batches_give(tmp_path, prefetched):
    path = tmp_path / "in.parquet"
    pq.write_table(typed_table(), path, row_group_size=700)
    _, batches, _ = frames_of(path, chunk_bytes=8192)
    reader = open_input(path)
    reader.at_once = True
    if prefetched:
        reader.prefetch(8192)
    frames = list(reader.frames(10_000, 8192))
    assert len(frames) == 1
    expected = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(frames[0], expected)
    assert same_records(records(frames), records(batches))
    assert [reader.number(i) for i in range(len(frames[0]))] == list(range(1, 5001))
    assert reader.seen == 5000 and reader.bytes_read == reader.size


@pytest.mark.parametrize(
    "text",
    [
        'id,x,s,b\n1,0.5,café,True\n2,,NA,false\n3,1e-300,"a,b\nc",\n',
        "a,b\r\n1,2\r\n3,4\r\n",
        "id,d\n1,2024-01-02\n",  # dates: left to pandas, prefetched or not
    ],
    ids=["types and missing values", "CRLF", "dates"],
)
def test_a_recordsets_csv_input_read_during_init_is_what_it_reads_after(tmp_path, text):
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    after, after_frames, _ = frames_of(path, chunk_bytes=4096, at_once=True)
    reader = open_input(path)
    reader.at_once = True
    reader.prefetch(4096)
    frames = list(reader.frames(10_000, 4096))
    assert reader.read_by == after.read_by
    pd.testing.assert_frame_equal(pd.concat(frames), pd.concat(after_frames))
    assert same_records(records(frames), records(after_frames))


def test_a_recordsets_csv_row_that_does_not_parse_is_still_rejected_when_prefetched(tmp_path):
    path = tmp_path / "in.csv"
    lines = [f"{i},{i / 2}" for i in range(3000)]
    lines[2500] = "2500,1.5,extra"
    path.write_text("id,x\n" + "\n".join(lines) + "\n")
    rejected = []
    reader = open_input(path)
    reader.at_once = True
    reader.reject = lambda **kw: rejected.append(kw)
    reader.prefetch(4096)
    frames = list(reader.frames(10_000, 4096))
    assert [(r["number"], r["line"]) for r in rejected] == [(2501, 2502)]
    assert [r["id"] for r in records(frames)] == [i for i in range(3000) if i != 2500]


def test_a_parquet_file_that_cannot_be_read_whole_fails_naming_the_input(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(typed_table(100), path)
    reader = open_input(path)
    reader.at_once = True
    data = bytearray(path.read_bytes())
    data[8:200] = b"\x00" * 192  # the first column chunk's pages, after the file was opened
    path.write_bytes(bytes(data))
    reader.prefetch(4096)
    with pytest.raises(JobError, match=r"^input 'in.parquet': cannot be read: "):
        list(reader.frames(10_000, 4096))


def test_an_error_of_the_read_ahead_thread_is_raised_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise ValueError("bad block")

    ahead = Ahead(produce, limit=1)
    got = []
    with pytest.raises(ValueError, match="bad block"):
        for item in ahead:
            got.append(item)
    ahead.close()
    assert got == [1, 2]


def test_closing_stops_a_read_ahead_thread_waiting_for_room():
    made = []

    def produce():
        for i in range(1000):
            made.append(i)
            yield i

    ahead = Ahead(produce, limit=2)
    first = next(iter(ahead))
    time.sleep(0.2)
    ahead.close()
    assert first == 0
    assert len(made) < 10  # it waited for room instead of reading everything
    assert not any(t.name == "moc-read-ahead" and t.is_alive() for t in threading.enumerate())


def test_a_reader_left_after_its_first_frames_stops_its_thread(tmp_path):
    path = tmp_path / "in.csv"
    big_csv(path, rows=20_000)
    reader = open_input(path)
    frames = reader.frames(10_000, 4096)
    next(frames), next(frames)
    frames.close()  # the job failed on a chunk: the generator is closed
    assert not any(t.name == "moc-read-ahead" and t.is_alive() for t in threading.enumerate())
    assert np.isfinite(reader.bytes_read)
