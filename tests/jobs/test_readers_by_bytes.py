"""The fast readers and writers of batch and recordsets modes (chunks by bytes: pyarrow.csv,
JSON lines read a block of lines at a time, Parquet batches sized by bytes, JSON lines written
by one orjson call per piece) give the same records as the row-chunked readers did, types
included. Readers are called directly here: no child process, the data path only."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.runner.errors import JobError
from jobs.runner.readers import reader_open
from jobs.runner.spec import InputFile
from jobs.runner.writers import JsonLinesWriter

CHUNK_BYTES = 16 * 1024 * 1024


def open_input(path, fmt=None):
    return reader_open(InputFile(name=path.name, path=str(path), format=fmt or path.suffix[1:]))


def frames_of(path, *, chunk_rows=10_000, chunk_bytes=0, reject=None, at_once=False):
    reader = open_input(path)
    reader.reject = reject
    if at_once:  # recordsets: a CSV file by pyarrow.csv.read_csv
        reader.at_once = True
    frames, numbers = [], []
    for frame in reader.frames(chunk_rows, chunk_bytes):
        frames.append(frame)
        numbers.extend(reader.number(i) for i in range(len(frame)))
    return reader, frames, numbers


def records(frames) -> list[dict]:
    return [r for frame in frames for r in frame.to_dict("records")]


def same_records(a: list[dict], b: list[dict]) -> bool:
    """Equal record by record, the type of every value included; NaN equals NaN, not None."""

    def key(value):
        if isinstance(value, float) and math.isnan(value):
            return ("nan",)
        return (type(value), value)

    return [{k: key(v) for k, v in r.items()} for r in a] == [
        {k: key(v) for k, v in r.items()} for r in b
    ]


# Each is read by pyarrow, and must give what pandas gave (the row-chunked reader).
CSV_READ_BY_PYARROW = {
    "numbers": "id,x,s\n1,0.5,a\n2,1.5,b\n",
    "an int column with a missing value": "id,x\n1,\n2,3\n",
    "text with missing values": "id,s\n1,\n2,b\n3,NA\n4,null\n",
    "booleans": "id,b\n1,True\n2,false\n3,TRUE\n",
    "booleans with a missing value": "id,b\n1,True\n2,\n3,false\n",
    "numbers with spaces and leading zeros": "id,x,z\n1, 12,00123\n2,13 ,0456\n",
    "infinities": "id,x\n1,inf\n2,-inf\n",
    "unicode": "id,s\n1,café ☃\n2,日本語\n",
    "a byte-order mark": "\ufeffid,s\n1,a\n",
    "quoted commas and newlines": 'id,s\n1,"a,b\nc"\n2,""\n3,"say ""hi"""\n',
    "CRLF line ends": "a,b\r\n1,2\r\n3,4\r\n",
    "shortest floats": "a\n0.1\n35.8\n1e-300\n0.30000000000000004\n",
    "mixed timestamps, text to both": "id,t\n1,2024-01-02 03:04:05\n2,2024-01-02T03:04:05Z\n",
    "strings that look like numbers": "id,code\n1,0x10\n2,1_000\n3,12a\n",
}

# Each is left to pandas (pyarrow would read it otherwise), with the same records as before.
CSV_READ_BY_PANDAS = {
    "dates stay text": "id,d\n1,2024-01-02\n2,2024-02-03\n",
    "timestamps stay text": "id,t\n1,2024-01-02 03:04:05\n2,2024-01-03 00:00:00\n",
    "times stay text": "id,t\n1,12:30:00\n",
    "a column with no value": "id,x\n1,\n2,\n",
    "duplicate names": "a,a\n1,2\n",
    "a name missing": "a,\n1,2\n",
    "an unsigned 64-bit int": "id,x\n1,18446744073709551615\n",
    "only a header": "a,b\n",
    "an empty file": "",
}


@pytest.mark.parametrize("at_once", [False, True], ids=["batch", "recordsets"])
@pytest.mark.parametrize("text", CSV_READ_BY_PYARROW.values(), ids=CSV_READ_BY_PYARROW.keys())
def test_pyarrow_reads_a_csv_file_as_pandas_did(tmp_path, text, at_once):
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    fast, fast_frames, numbers = frames_of(path, chunk_bytes=CHUNK_BYTES, at_once=at_once)
    _, before, _ = frames_of(path)
    assert fast.read_by == "pyarrow"
    pd.testing.assert_frame_equal(pd.concat(fast_frames), pd.concat(before))
    assert same_records(records(fast_frames), records(before))
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("at_once", [False, True], ids=["batch", "recordsets"])
@pytest.mark.parametrize("text", CSV_READ_BY_PANDAS.values(), ids=CSV_READ_BY_PANDAS.keys())
def test_a_csv_file_pyarrow_would_read_otherwise_is_left_to_pandas(tmp_path, text, at_once):
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    fast, fast_frames, _ = frames_of(path, chunk_bytes=CHUNK_BYTES, at_once=at_once)
    _, before, _ = frames_of(path)
    assert fast.read_by in ("pandas", "")  # an empty file is read by neither
    assert same_records(records(fast_frames), records(before))
    assert [list(f.dtypes) for f in fast_frames] == [list(f.dtypes) for f in before]


def test_dates_in_csv_reach_the_model_as_text(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,d\n1,2024-01-02\n")
    _, frames, _ = frames_of(path, chunk_bytes=CHUNK_BYTES)
    assert records(frames) == [{"id": 1, "d": "2024-01-02"}]


def big_csv(path, rows=5000):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"id": np.arange(rows), "x": rng.random(rows).round(6)})
    frame["s"] = [f"r{i}é" for i in range(rows)]
    frame.to_csv(path, index=False)
    return frame


def test_a_csv_file_is_read_in_chunks_of_about_chunk_bytes(tmp_path):
    path = tmp_path / "in.csv"
    frame = big_csv(path)
    reader, frames, numbers = frames_of(path, chunk_bytes=8192)
    assert reader.read_by == "pyarrow"
    assert len(frames) > 5
    assert all(len(f) < 1000 for f in frames)  # 8 KiB of 20-byte lines
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), frame)
    assert numbers == list(range(1, len(frame) + 1))
    assert reader.bytes_read == reader.size


def test_a_csv_column_whose_type_changes_later_is_read_on_by_pandas(tmp_path):
    path = tmp_path / "in.csv"
    lines = [f"{i},{i}" for i in range(3000)] + ["3000,not a number", "3001,7"]
    path.write_text("id,x\n" + "\n".join(lines) + "\n")
    reader, frames, numbers = frames_of(path, chunk_bytes=4096)
    assert reader.read_by == "pandas"
    rows = records(frames)
    assert [r["id"] for r in rows] == list(range(3002))
    assert rows[0]["x"] == 0 and rows[3000]["x"] == "not a number"
    assert numbers == list(range(1, 3003))


def test_a_bad_csv_row_in_a_later_chunk_is_rejected_with_its_line(tmp_path):
    path = tmp_path / "in.csv"
    lines = [f"{i},{i / 2}" for i in range(3000)]
    lines[2500] = "2500,1.5,extra"
    path.write_text("id,x\n" + "\n".join(lines) + "\n")
    rejected = []
    reader, frames, numbers = frames_of(
        path, chunk_bytes=4096, reject=lambda **kw: rejected.append(kw)
    )
    assert [(r["number"], r["line"]) for r in rejected] == [(2501, 2502)]
    assert rejected[0]["reason"] == "Expected 2 fields, saw 3"
    rows = records(frames)
    assert [r["id"] for r in rows] == [i for i in range(3000) if i != 2500]
    assert numbers == [i + 1 for i in range(3000) if i != 2500]


def test_a_bad_csv_row_read_all_at_once_is_rejected_with_its_line(tmp_path):
    path = tmp_path / "in.csv"
    lines = [f"{i},{i / 2}" for i in range(3000)]
    lines[2500] = "2500,1.5,extra"
    path.write_text("id,x\n" + "\n".join(lines) + "\n")
    rejected = []
    reader, frames, numbers = frames_of(
        path, chunk_bytes=4096, reject=lambda **kw: rejected.append(kw), at_once=True
    )
    assert [(r["number"], r["line"]) for r in rejected] == [(2501, 2502)]
    assert numbers == [i + 1 for i in range(3000) if i != 2500]


def test_a_bad_csv_row_without_a_reject_hook_fails_naming_its_line(tmp_path):
    path = tmp_path / "in.csv"
    lines = [f"{i},{i / 2}" for i in range(3000)]
    lines[2500] = "2500,1.5,extra"
    path.write_text("id,x\n" + "\n".join(lines) + "\n")
    with pytest.raises(JobError, match=r"^input 'in.csv': line 2502: Expected 2 fields, saw 3$"):
        frames_of(path, chunk_bytes=4096)


def test_json_lines_by_bytes_give_the_records_and_numbers_of_json_lines_by_rows(tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [{"id": i, "x": i / 3, "s": f"é{i}", "b": i % 2 == 0, "n": None} for i in range(3000)]
    lines = [orjson.dumps(r) + b"\n" for r in rows]
    path.write_bytes(b"".join(lines[:80] + [b"\n  \n{bad json\n"] + lines[80:]))
    got, want = [], []
    fast, fast_frames, numbers = frames_of(
        path, chunk_bytes=4096, reject=lambda **kw: got.append(kw)
    )
    _, before, before_numbers = frames_of(path, chunk_rows=100, reject=lambda **kw: want.append(kw))
    assert len(fast_frames) > 10
    assert same_records(records(fast_frames), records(before))
    assert numbers == before_numbers
    assert got == want and [(r["number"], r["line"]) for r in got] == [(81, 83)]


def test_parquet_batches_are_sized_by_bytes(tmp_path):
    path = tmp_path / "in.parquet"
    table = pa.table({"id": list(range(5000)), "s": [f"r{i}" for i in range(5000)]})
    pq.write_table(table, path)
    reader, frames, numbers = frames_of(path, chunk_bytes=8192)
    assert 5 < len(frames) < 5000
    assert records(frames) == table.to_pylist()
    assert numbers == list(range(1, 5001))


def test_a_dataframe_written_as_json_lines_is_what_orjson_writes_for_each_record(tmp_path):
    frame = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [35.8, np.nan, -0.0],
            "s": ["é☃", None, "1.50"],
            "b": [True, False, True],
            "d": pd.to_datetime(["2024-01-02", "2024-01-03 04:05:06", None], format="mixed"),
            "o": [{"k": [1, 2]}, [0.1], None],
        }
    )
    writer = JsonLinesWriter(path=str(tmp_path / "out.jsonl"), name="out")
    writer.write_frame(frame)
    writer.close()
    assert (tmp_path / "out.jsonl").read_bytes().splitlines() == [
        b'{"i":1,"f":35.8,"s":"\xc3\xa9\xe2\x98\x83","b":true,"d":"2024-01-02T00:00:00.000",'
        b'"o":{"k":[1,2]}}',
        b'{"i":2,"f":null,"s":null,"b":false,"d":"2024-01-03T04:05:06.000","o":[0.1]}',
        b'{"i":3,"f":-0.0,"s":"1.50","b":true,"d":null,"o":null}',
    ]
