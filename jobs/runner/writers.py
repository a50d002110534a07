"""Output writers: JSON lines (the default), JSON array, CSV, Parquet.

A writer takes either values (each one output record, written as it is) or DataFrames
(written as one record per row, vectorised). It writes to the staging path only; the
supervisor commits the file when the job succeeds.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any, BinaryIO

import numpy as np
import orjson
import pandas as pd

from jobs.runner.errors import JobError
from jobs.runner.frametext import csv_columns, csv_header, json_rows, rows_joined
from jobs.runner.readers import arrow

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _json_default(value: Any) -> Any:
    """What orjson does not know natively, the way a person would expect it written."""
    if isinstance(value, pd.DataFrame):
        return value.to_dict("records")
    if isinstance(value, pd.Series):
        return value.to_dict()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, datetime.date | datetime.time):  # pd.Timestamp is a subclass
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):  # arrays of other libraries
        return value.tolist()
    raise TypeError(f"values of type {type(value).__name__} cannot be written as JSON")


def json_line(value: Any) -> bytes:
    """One value as one JSON line (numpy, pandas and dates included)."""
    return orjson.dumps(value, default=_json_default, option=_ORJSON_OPTIONS)


_LIST_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
# Rows encoded at once: memory stays flat for a DataFrame of all input (bytes.join takes 80
# bytes for each item it joins, two per cell).
_FRAME_ROWS = 2_000


def _frame_json_lines(frame: pd.DataFrame) -> bytes:
    """FRAME as JSON lines, the text a dict per row would give (jobs/runner/frametext.py),
    floats in their shortest form that reads back to the same double (as repr and orjson
    write them): pandas' own encoder prints 35.8 as 35.799999999999997 and keeps at most 15
    digits."""
    if not frame.columns.is_unique:
        raise ValueError("DataFrame columns must be unique for orient='records'.")
    if not frame.shape[1]:
        return b"{}\n" * len(frame)
    return b"".join(json_rows(frame, rows=_FRAME_ROWS, cells_of=_json_cells, dumps=_json_dumps))


def _json_dumps(value: Any) -> bytes:
    """One cell's JSON text, as orjson writes it inside a record."""
    return orjson.dumps(value, default=_json_default, option=_LIST_OPTIONS)


def _json_cells(series: pd.Series) -> list[Any]:
    """The cells of one column as values orjson writes the way pandas' to_json did."""
    dtype = series.dtype
    if dtype.kind in "mM" or isinstance(dtype, pd.DatetimeTZDtype | pd.PeriodDtype):
        # Dates and durations keep pandas' ISO text ("2024-01-02T03:04:05.123").
        return orjson.loads(series.to_json(orient="values", date_format="iso"))
    if dtype == np.float32:
        return list(series.to_numpy())  # numpy float32s: their own shortest form, not a double's
    return series.tolist()


class Writer:
    def __init__(self, *, path: str, name: str) -> None:
        self.path = path
        self.name = name

    def write_values(self, values: list[Any]) -> None:
        raise NotImplementedError

    def write_frame(self, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _fail(self, why: str) -> JobError:
        return JobError(f"output '{self.name}': {why}")

    def _no_new_columns(self, columns, known: list[str]) -> None:
        # Later records with a column the first ones lacked would otherwise lose it silently.
        extra = [c for c in columns if c not in known]
        if extra:
            raise self._fail(
                f"column {extra[0]!r} appears after the first records were written "
                f"(the columns come from them: {', '.join(known)})"
            )

    def _records_only(self, values: list[Any], what: str) -> list[dict]:
        for value in values:
            if not isinstance(value, dict):
                raise self._fail(
                    f"{what} holds records (objects with named fields), but the score "
                    f"function produced {type(value).__name__} {_preview(value)}; "
                    f"write JSON lines instead or yield dicts"
                )
        return values


class JsonLinesWriter(Writer):
    def __init__(self, *, path: str, name: str) -> None:
        super().__init__(path=path, name=name)
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()

    def write_values(self, values: list[Any]) -> None:
        try:
            self.file.write(b"".join(map(json_line, values)))
        except TypeError as exc:
            raise self._fail(f"a value cannot be written as JSON: {exc}") from None

    def write_encoded(self, lines: bytes) -> None:
        """Records already encoded by json_line, one a line."""
        self.file.write(lines)

    def write_frame(self, frame: pd.DataFrame) -> None:
        if len(frame):
            self.file.write(self._frame_bytes(frame))

    def _frame_bytes(self, frame: pd.DataFrame) -> bytes:
        try:
            return _frame_json_lines(frame)
        except (ValueError, TypeError, OverflowError) as exc:
            raise self._fail(f"a DataFrame cannot be written as JSON: {exc}") from None

    def close(self) -> None:
        self.file.close()


class JsonArrayWriter(JsonLinesWriter):
    def __init__(self, *, path: str, name: str) -> None:
        super().__init__(path=path, name=name)
        self.file.write(b"[")
        self.empty = True

    def _items(self, lines: bytes) -> None:
        # JSON never holds a raw newline inside a value, so each newline ends one item.
        if lines:
            self.file.write(
                (b"\n" if self.empty else b",\n") + lines.rstrip(b"\n").replace(b"\n", b",\n")
            )
            self.empty = False

    def write_values(self, values: list[Any]) -> None:
        try:
            self._items(b"".join(map(json_line, values)))
        except TypeError as exc:
            raise self._fail(f"a value cannot be written as JSON: {exc}") from None

    def write_encoded(self, lines: bytes) -> None:
        self._items(lines)

    def write_frame(self, frame: pd.DataFrame) -> None:
        if len(frame):
            self._items(self._frame_bytes(frame))

    def close(self) -> None:
        self.file.write(b"]\n" if self.empty else b"\n]\n")
        self.file.close()


class CsvWriter(Writer):
    def __init__(self, *, path: str, name: str) -> None:
        super().__init__(path=path, name=name)
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.columns: list[str] | None = None

    def write_values(self, values: list[Any]) -> None:
        if values:
            self.write_frame(pd.DataFrame(self._records_only(values, "CSV")))

    def write_frame(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        if self.columns is None:
            self.columns = [str(c) for c in frame.columns]
        else:
            frame = frame.rename(columns=str)
            self._no_new_columns(frame.columns, self.columns)
            frame = frame.reindex(columns=self.columns)
        header = self.file.tell() == 0
        names_plain = all(isinstance(c, str) for c in frame.columns)
        columns = csv_columns(frame) if names_plain else None
        if columns is None:  # a kind of column pandas writes its own way (dates, categories)
            frame.to_csv(self.file, header=header, index=False, mode="wb", encoding="utf-8")
            return
        if header:
            self.file.write(csv_header(self.columns))
        separators = [b"", *[b","] * (len(columns) - 1)]
        for start in range(0, len(frame), _FRAME_ROWS):
            cells = [column(start, start + _FRAME_ROWS) for column in columns]
            self.file.write(rows_joined(cells, separators, b"\n"))

    def close(self) -> None:
        self.file.close()


class ParquetWriter(Writer):
    def __init__(self, *, path: str, name: str) -> None:
        super().__init__(path=path, name=name)
        self.pa, self.pq = arrow()
        self.writer: Any = None  # pyarrow.parquet.ParquetWriter
        self.schema: Any = None  # pyarrow.Schema

    def write_values(self, values: list[Any]) -> None:
        if values:
            records = self._records_only(values, "Parquet")
            if self.schema is not None:
                self._no_new_columns(
                    dict.fromkeys(k for r in records for k in r), self.schema.names
                )
            self._write(lambda: self.pa.Table.from_pylist(records, schema=self.schema))

    def write_frame(self, frame: pd.DataFrame) -> None:
        if len(frame):
            if self.schema is not None:
                self._no_new_columns(frame.columns, self.schema.names)
            self._write(
                lambda: self.pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            )

    def _write(self, make_table) -> None:
        try:
            table = make_table()
        except (self.pa.ArrowException, KeyError, ValueError, TypeError) as exc:
            where = "the first records" if self.writer is None else "records after the first"
            raise self._fail(f"{where} cannot be written as Parquet: {exc}") from None
        if self.writer is None:
            # The first chunk fixes the schema; later chunks must fit it.
            self.schema = table.schema
            self.writer = self.pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is None:
            self.pq.write_table(self.pa.table({}), self.path)  # no records: still a valid file
        else:
            self.writer.close()


_WRITERS = {
    "jsonl": JsonLinesWriter,
    "json": JsonArrayWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}


def writer_open(*, path: str, name: str, format: str) -> Writer:
    if format not in _WRITERS:
        raise JobError(f"output '{name}': unknown format {format!r}")
    return _WRITERS[format](path=path, name=name)


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return f"({text[: limit - 1]}…)" if len(text) > limit else f"({text})"
