"""Input readers: each streams one file in chunks, so memory stays flat whatever its size.

A reader gives either lists of records (dicts with native Python values, for ModelOp's
per-record score) or DataFrames (batch and recordsets modes), and counts the bytes it has
consumed so the job page can show a percentage. Errors name the asset and the line.
"""

from __future__ import annotations

import itertools
import os
import re
import warnings
from collections.abc import Iterator
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.runner.errors import JobError
from jobs.runner.spec import InputFile

_WHITESPACE = b" \t\r\n\xef\xbb\xbf"  # and a UTF-8 byte-order mark


class Reader:
    # True when the file is one JSON array: ModelOp hands it to score whole, in one call.
    whole = False

    def __init__(self, item: InputFile) -> None:
        self.name = item.name
        self.path = item.path
        self.size = os.path.getsize(item.path)
        self.bytes_read = 0  # up to the end of the chunk last handed out
        self.chunk_start = 0  # bytes before that chunk

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        raise NotImplementedError

    def frames(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        raise NotImplementedError

    def position(self, done: int, of: int) -> int:
        """Bytes read once DONE of the OF records of the current chunk are scored: a slow
        per-record model would otherwise show a whole chunk done as soon as it is read."""
        return self.chunk_start + (self.bytes_read - self.chunk_start) * done // max(of, 1)

    def _advance(self, bytes_read: int) -> None:
        self.chunk_start, self.bytes_read = self.bytes_read, bytes_read

    def _where(self, where: str) -> str:
        return f"input '{self.name}': {where}"

    def _fail(self, where: str, why: str) -> JobError:
        return JobError(self._where(where) + why)


class JsonLinesReader(Reader):
    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        for _, records in self._chunks(chunk_rows):
            yield records

    def frames(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        for numbers, records in self._chunks(chunk_rows):
            yield _frame_of(records, lambda i, n=numbers: self._where(f"line {n[i]}: "))

    def _chunks(self, chunk_rows: int) -> Iterator[tuple[list[int], list[Any]]]:
        line_no = 0
        with open(self.path, "rb") as f:
            while lines := list(itertools.islice(f, chunk_rows)):
                self._advance(self.bytes_read + sum(map(len, lines)))
                numbers, records = [], []
                for line in lines:
                    line_no += 1
                    if line.isspace():  # blank lines (often a trailing one) are not records
                        continue
                    try:
                        records.append(orjson.loads(line))
                    except orjson.JSONDecodeError as exc:
                        # exc.pos counts the newline too; past the text means "at its end".
                        column = min(exc.pos, len(line.rstrip(b"\r\n"))) + 1
                        if "UTF-8" in exc.msg:
                            raise self._fail(
                                f"line {line_no}: ", f"not UTF-8 text; {_SAVE_AS_UTF8}"
                            ) from None
                        raise self._fail(
                            f"line {line_no}: ", f"invalid JSON at column {column}: {exc.msg}"
                        ) from None
                    numbers.append(line_no)
                if records:
                    yield numbers, records


class JsonArrayReader(Reader):
    """A file holding one JSON array, read whole: ModelOp scores it in one call."""

    whole = True

    def __init__(self, item: InputFile) -> None:
        super().__init__(item)
        with open(self.path, "rb") as f:
            raw = f.read()
        self.bytes_read = len(raw)
        try:
            self.value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            line = raw.count(b"\n", 0, exc.pos) + 1
            column = exc.pos - (raw.rfind(b"\n", 0, exc.pos) + 1) + 1
            raise self._fail(
                f"line {line}: ", f"invalid JSON at column {column}: {exc.msg}"
            ) from None

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        count = len(self.value)
        self.bytes_read = 0
        for start in range(0, count, chunk_rows):
            chunk = self.value[start : start + chunk_rows]
            self._advance(self.size * (start + len(chunk)) // count)
            yield chunk

    def frames(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        for start in range(0, len(self.value), chunk_rows):
            chunk = self.value[start : start + chunk_rows]
            yield _frame_of(chunk, lambda i, s=start: self._where(f"array item {s + i + 1}: "))


class CsvReader(Reader):
    # "Error tokenizing data. C error: Expected 4 fields in line 8, saw 5"
    _TOKENIZE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        for frame in self.frames(chunk_rows):
            yield frame.to_dict("records")

    def frames(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        with open(self.path, "rb") as f, warnings.catch_warnings():
            # Rows with one field more than the header would silently make the first column
            # the index (shifting every value); index_col=False makes that a warning, and
            # the warning an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                chunks = pd.read_csv(f, chunksize=chunk_rows, index_col=False)
                for frame in chunks:
                    # The parser reads ahead in blocks, so this is close, not exact.
                    self._advance(f.tell())
                    yield frame
            except pd.errors.EmptyDataError:
                return  # an empty file (not even a header) has no records
            except pd.errors.ParserError as exc:
                raise self._csv_error(exc) from None
            except pd.errors.ParserWarning:
                raise self._fail(
                    "",
                    "the rows have more fields than the header line names; give every "
                    "column a name in the header, or remove the extra fields",
                ) from None
            except UnicodeDecodeError as exc:
                raise self._fail("", f"not UTF-8 text (byte {exc.start}).") from None
        self.bytes_read = self.size

    def _csv_error(self, exc: Exception) -> JobError:
        if match := self._TOKENIZE.search(str(exc)):
            expected, line, saw = match.groups()
            return self._fail(f"line {line}: ", f"Expected {expected} fields, saw {saw}")
        return self._fail("", f"not valid CSV: {str(exc).strip()}")


class ParquetReader(Reader):
    def __init__(self, item: InputFile) -> None:
        super().__init__(item)
        try:
            # pre_buffer would read the whole file into memory ahead of the batches.
            self.file = pq.ParquetFile(self.path, pre_buffer=False)
        except (pa.ArrowException, OSError) as exc:
            raise self._fail("", f"not a Parquet file: {exc}") from None
        self.rows = self.file.metadata.num_rows

    def _batches(self, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        done = 0
        try:
            for batch in self.file.iter_batches(batch_size=chunk_rows):
                done += batch.num_rows
                # Row fraction of the file size: Parquet is columnar, byte offsets mean little.
                self._advance(self.size * done // max(self.rows, 1))
                yield batch
        except pa.ArrowException as exc:
            raise self._fail(f"near row {done + 1}: ", f"cannot be read: {exc}") from None

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        for batch in self._batches(chunk_rows):
            yield batch.to_pylist()

    def frames(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        for batch in self._batches(chunk_rows):
            yield batch.to_pandas()


def _frame_of(records: list[Any], where) -> pd.DataFrame:
    """Records → DataFrame; a table needs objects, so a list or a number is an error."""
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise JobError(f"{where(i)}a JSON object is expected, found {_kind(record)}")
    return pd.DataFrame(records)


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _first_byte(path: str) -> bytes:
    with open(path, "rb") as f:
        while block := f.read(4096):
            stripped = block.lstrip(_WHITESPACE)
            if stripped:
                return stripped[:1]
    return b""


_SAVE_AS_UTF8 = "save the file as UTF-8 (JSON and CSV inputs are read as UTF-8)."


def _text_check(item: InputFile) -> None:
    """Refuse UTF-16/32 text and binary files up front: read as UTF-8 they would only give
    a puzzling parse error."""
    with open(item.path, "rb") as f:
        head = f.read(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise JobError(f"input '{item.name}': the file is UTF-16 (or UTF-32) text; {_SAVE_AS_UTF8}")
    if b"\x00" in head:
        raise JobError(
            f"input '{item.name}': not text: it holds NUL bytes (a binary file, or UTF-16 text "
            f"without a byte-order mark); {_SAVE_AS_UTF8}"
        )


def reader_open(item: InputFile) -> Reader:
    if item.format in ("csv", "json", "jsonl"):
        _text_check(item)
    if item.format == "csv":
        return CsvReader(item)
    if item.format == "parquet":
        return ParquetReader(item)
    if item.format in ("json", "jsonl"):
        # ModelOp's rule: a file that starts with "[" is an array, anything else JSON lines
        # (".json" files with one record per line are common).
        if _first_byte(item.path) == b"[":
            return JsonArrayReader(item)
        return JsonLinesReader(item)
    raise JobError(f"input '{item.name}': unknown format {item.format!r}")
