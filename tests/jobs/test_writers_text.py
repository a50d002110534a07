"""DataFrames written as CSV and JSON lines a column at a time (jobs/runner/frametext.py) give
the same bytes as before: CSV what pandas' to_csv wrote, chunk by chunk; JSON lines what
orjson wrote for a dict per row (the earlier writer, kept here as the reference). And what is
written reads back as the same records, types included. Writers are called directly: no
child process, the data path only."""

from __future__ import annotations

import datetime
import decimal
import math

import numpy as np
import orjson
import pandas as pd
import pytest

from jobs.runner.writers import CsvWriter, JsonLinesWriter, _json_cells, _json_default

RNG = np.random.default_rng(13)


def doubles(n: int) -> np.ndarray:
    """Doubles of every magnitude (random bit patterns), with the edges of repr's spelling."""
    bits = RNG.integers(0, 2**64, n, dtype=np.uint64)
    values = bits.view(np.float64)
    edges = [0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 1e-5, 1.5e-7,
             0.1, 0.30000000000000004, 35.8, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
             123456789.0, 1e15, 2.0**53, 1e22, -1e-300]  # fmt: skip
    return np.concatenate([values, edges, RNG.random(n), RNG.normal(0, 1e6, n)])


def write(writer_class, path, frames) -> bytes:
    writer = writer_class(path=str(path), name=path.name)
    for frame in frames:
        writer.write_frame(frame)
    writer.close()
    return path.read_bytes()


def pandas_csv(frames) -> bytes:
    """What the CSV writer wrote before: pandas' to_csv of each chunk, the header once."""
    return b"".join(
        frame.to_csv(header=i == 0, index=False).encode() for i, frame in enumerate(frames)
    )


def mixed_frame(n: int) -> pd.DataFrame:
    floats = doubles(n)[: 3 * n]
    floats[RNG.random(len(floats)) < 0.05] = np.nan
    floats[:3] = [np.inf, -np.inf, np.nan]
    texts = ["plain", "comma, inside", 'a "quote"', "new\nline", "cr\rhere", "", "é☃ 𝄞", " pad ",
             "tab\tx", "1.50", "007", "True", "nan", "NA", "null"]  # fmt: skip
    count = len(floats)
    return pd.DataFrame(
        {
            "id": np.arange(count),
            "f": floats,
            "i8": RNG.integers(-128, 127, count, dtype=np.int8),
            "u64": RNG.integers(0, 2**64, count, dtype=np.uint64),
            "big": RNG.integers(-(2**63), 2**63 - 1, count, dtype=np.int64),
            "b": RNG.random(count) < 0.5,
            "s": pd.array([texts[i % len(texts)] for i in range(count)], dtype="str"),
            "o": [None if i % 7 == 0 else texts[i % len(texts)] for i in range(count)],
        }
    )


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_is_byte_for_byte_what_pandas_wrote_in_chunks(tmp_path):
    frame = mixed_frame(3000)
    chunks = [frame.iloc[i : i + 2500] for i in range(0, len(frame), 2500)]
    assert len(chunks) > 2
    assert write(CsvWriter, tmp_path / "out.csv", chunks) == pandas_csv(chunks)


def test_csv_floats_are_their_repr_the_shortest_text_that_reads_back_the_same(tmp_path):
    values = doubles(20_000)
    values = values[np.isfinite(values)]
    frame = pd.DataFrame({"id": np.arange(len(values)), "x": values})
    text = write(CsvWriter, tmp_path / "out.csv", [frame])
    cells = [line.split(b",")[1] for line in text.splitlines()[1:]]
    assert cells == [repr(v).encode() for v in values.tolist()]
    back = pd.read_csv(tmp_path / "out.csv")
    assert back["x"].to_numpy().view(np.uint64).tolist() == values.view(np.uint64).tolist()


def test_csv_reads_back_as_the_same_records_with_their_types(tmp_path):
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "score": [0.5, np.nan, 1e-300, 2 / 3],
            "whole": [1.0, 2.0, 3.0, 4.0],  # floats that are whole numbers stay floats
            "ok": [True, False, True, True],
            "name": ["é☃", None, 'say "hi", then\nleave', "x"],
        }
    )
    write(CsvWriter, tmp_path / "out.csv", [frame.iloc[:2], frame.iloc[2:]])
    back = pd.read_csv(tmp_path / "out.csv")
    assert list(back.dtypes.astype(str)) == ["int64", "float64", "float64", "bool", "str"]
    assert back["id"].tolist() == [1, 2, 3, 4]
    assert back["score"].tolist()[0] == 0.5 and math.isnan(back["score"][1])
    assert back["score"].tolist()[2:] == [1e-300, 2 / 3]
    assert back["whole"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert back["ok"].tolist() == [True, False, True, True]
    assert back["name"].tolist()[0] == "é☃" and pd.isna(back["name"][1])
    assert back["name"].tolist()[2:] == ['say "hi", then\nleave', "x"]


@pytest.mark.parametrize(
    "column",
    [
        pd.to_datetime(["2024-01-02", "2024-01-03 04:05:06", None], format="mixed"),
        pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]),
        pd.Series(pd.to_datetime(["2024-01-02 03:04", None, "2024-05-06 00:00"])).dt.tz_localize(
            "UTC"
        ),
        pd.to_timedelta([1, 2, 3], unit="s"),
        pd.array([1, None, 3], dtype="Int64"),
        pd.array([True, None, False], dtype="boolean"),
        pd.Categorical(["a", "b", "a"]),
        np.array([0.1, 1e-5, 3.4028235e38], dtype="float32"),
        [1, None, 3],  # an object column of numbers
        [datetime.date(2024, 1, 2), None, datetime.date(2024, 1, 3)],
        [decimal.Decimal("1.10"), decimal.Decimal("2"), None],
        [{"k": 1}, [1, 2], "text"],
    ],
    ids=[
        "dates",
        "days",
        "tz",
        "durations",
        "Int64",
        "boolean",
        "category",
        "float32",
        "object-ints",
        "date-objects",
        "decimals",
        "objects",
    ],  # fmt: skip
)
def test_csv_columns_of_other_kinds_are_still_written_by_pandas(tmp_path, column):
    frame = pd.DataFrame({"id": [1, 2, 3], "x": column, "y": [0.5, 1.5, np.nan]})
    chunks = [frame.iloc[:2], frame.iloc[2:]]
    assert write(CsvWriter, tmp_path / "out.csv", chunks) == pandas_csv(chunks)


def test_csv_chunks_written_by_pandas_and_by_columns_share_one_file(tmp_path):
    fast = pd.DataFrame({"a": [1, 2], "b": ["x", "y, z"]})
    by_pandas = pd.DataFrame({"a": [3, 4], "b": pd.Categorical(["u", "v"])})
    chunks = [fast, by_pandas, fast]
    assert write(CsvWriter, tmp_path / "out.csv", chunks) == pandas_csv(chunks)


def test_csv_of_one_column_and_of_odd_names_is_what_pandas_wrote(tmp_path):
    for i, chunks in enumerate(
        [
            [pd.DataFrame({"s": ["a", None, ""]})],  # alone on its row, an empty cell is ""
            [pd.DataFrame({"a,b": [1], 'say "x"': [2.5], "é": ["z"]})],
            [pd.DataFrame({0: [1, 2], 1: [0.5, 0.25]})],
            [pd.DataFrame({"a": [1], "b": [2]}), pd.DataFrame({"b": [3]})],  # a missing column
        ]
    ):
        path = tmp_path / f"out{i}.csv"
        expected = pandas_csv(
            [chunks[0], *(c.reindex(columns=chunks[0].columns) for c in chunks[1:])]
        )
        assert write(CsvWriter, path, chunks) == expected


def test_csv_of_records_is_what_pandas_wrote(tmp_path):
    values = [{"a": 1, "b": "x", "c": 0.1}, {"a": 2, "b": None, "c": None}]
    writer = CsvWriter(path=str(tmp_path / "out.csv"), name="out.csv")
    writer.write_values(values)
    writer.close()
    assert (tmp_path / "out.csv").read_bytes() == pd.DataFrame(values).to_csv(index=False).encode()


# --- JSON lines --------------------------------------------------------------------------------

_LIST_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def records_json_lines(frame: pd.DataFrame) -> bytes:
    """The earlier writer: a dict per row, all of a piece in one orjson call."""
    keys = [str(c) for c in frame.columns]
    parts = []
    for start in range(0, len(frame), 10_000):
        piece = frame.iloc[start : start + 10_000]
        columns = [_json_cells(piece.iloc[:, i]) for i in range(len(keys))]
        rows = [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
        items: list = [orjson.Fragment(b"\n")] * (2 * len(rows) - 1)
        items[::2] = rows
        text = orjson.dumps(items, default=_json_default, option=_LIST_OPTIONS)
        parts.append(text[1:-1].replace(b",\n,", b"\n") + b"\n")
    return b"".join(parts)


def test_json_lines_are_byte_for_byte_what_a_dict_per_row_gave(tmp_path):
    frame = mixed_frame(8000)  # several pieces of _FRAME_ROWS rows
    frame["f32"] = RNG.random(len(frame)).astype("float32")
    frame["u8"] = RNG.integers(0, 255, len(frame), dtype=np.uint8)
    assert write(JsonLinesWriter, tmp_path / "out.jsonl", [frame]) == records_json_lines(frame)


def test_json_lines_of_columns_of_every_kind_are_what_a_dict_per_row_gave(tmp_path):
    frame = pd.DataFrame(
        {
            "d": pd.to_datetime(["2024-01-02", "2024-01-03 04:05:06.123", None], format="mixed"),
            "tz": pd.Series(pd.to_datetime(["2024-01-02", None, "2024-05-06"])).dt.tz_localize(
                "UTC"
            ),
            "td": pd.to_timedelta([1, 2, None], unit="s"),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "cat": pd.Categorical(["a", "b", None]),
            "obj": [{"k": [1, 2], 3: "x"}, [0.1, np.float32(0.25)], None],
            "mixed": [1, "two", 3.5],
            "dates": [datetime.date(2024, 1, 2), datetime.time(3, 4), None],
            "dec": [decimal.Decimal("1.10"), None, decimal.Decimal("2")],
            "arr": [np.array([1, 2]), np.int64(5), b"bytes"],
            "nan": [np.nan, 1.0, -0.0],
            "na_str": pd.array(["x", None, "z"], dtype="string"),
        }
    )
    assert write(JsonLinesWriter, tmp_path / "out.jsonl", [frame]) == records_json_lines(frame)


def test_json_lines_floats_are_their_shortest_form_as_before(tmp_path):
    values = doubles(20_000)
    frame = pd.DataFrame({"x": values, "n": np.arange(len(values))})
    text = write(JsonLinesWriter, tmp_path / "out.jsonl", [frame])
    assert text == records_json_lines(frame)
    back = [orjson.loads(line) for line in text.splitlines()]
    finite = np.isfinite(values)
    got = np.array([r["x"] if r["x"] is not None else np.nan for r in back])
    assert got[finite].view(np.uint64).tolist() == values[finite].view(np.uint64).tolist()
    assert all(r["x"] is None for r, ok in zip(back, finite, strict=True) if not ok)


def test_json_lines_of_a_frame_without_columns_are_empty_records(tmp_path):
    frame = pd.DataFrame(index=range(3))
    assert write(JsonLinesWriter, tmp_path / "out.jsonl", [frame]) == b"{}\n" * 3


def test_json_lines_of_a_frame_of_strided_columns_are_what_a_dict_per_row_gave(tmp_path):
    block = np.asfortranarray(RNG.random((50, 3)))  # each column a strided view of the block
    frame = pd.DataFrame(block, columns=["a", "b", "c"], copy=False)
    frame["i"] = np.arange(50)
    assert write(JsonLinesWriter, tmp_path / "out.jsonl", [frame]) == records_json_lines(frame)
