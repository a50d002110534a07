"""Input readers: each streams one file in chunks, so memory stays flat whatever its size.

A reader gives either lists of records (dicts with native Python values, for ModelOp's
per-record score) or DataFrames (batch and recordsets modes), and counts the bytes it has
consumed so the job page can show a percentage. Errors name the asset and the line.

A record that cannot be decoded (a JSON line that is not JSON, a CSV row that does not parse,
bytes that are not UTF-8) goes to the reader's reject hook with its record and line number,
and reading goes on; without a hook it fails the job. Good data keeps the fast path: a CSV
chunk is parsed whole by pandas, and only a chunk that fails is parsed again line by line.
Records are numbered from 1 per input, rejected ones included: number(i) is the number of
record i of the chunk last handed out.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd

from jobs.runner.ahead import Ahead, in_thread
from jobs.runner.errors import JobError
from jobs.runner.spec import InputFile


def arrow():
    """pyarrow and pyarrow.parquet, imported only for Parquet: a model environment may hold
    a numpy that the server's pyarrow cannot work with (README: Model environments)."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise JobError(
            f"Parquet needs pyarrow, which does not import in this model's environment ({exc}); "
            "pin a pyarrow that works with the environment's numpy in requirements.txt"
        ) from None
    return pyarrow, pyarrow.parquet


def arrow_memory_streamed() -> None:
    """Arrow's buffers from glibc, for a job that streams a CSV input: the mimalloc pool
    pyarrow picks by default keeps what the read-ahead freed (40 MB of a 330 MB model process
    reading a CSV file in 1 MiB blocks), while glibc maps a block that large on its own and
    gives it back once it is freed. Not for inputs read whole (recordsets), where mimalloc's
    reuse of its pages is faster (0.5 s of CPU, not 0.6 s, for 1,000,000 rows of Parquet),
    nor for streamed Parquet, where it saved 20 MB and its cost in time was not clear."""
    try:
        import pyarrow
    except ImportError:  # Arrow is not used without it
        return
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


_WHITESPACE = b" \t\r\n\xef\xbb\xbf"  # and a UTF-8 byte-order mark
_AHEAD_BATCHES = 4  # Arrow batches read ahead of the one being scored (jobs/runner/ahead.py)
_REJECT_TEXT_MAX = 10_000  # characters of an undecodable record kept in the rejects file


class Reader:
    # True when the file is one JSON array: ModelOp hands it to score whole, in one call.
    whole = False

    def __init__(self, item: InputFile) -> None:
        self.name = item.name
        self.path = item.path
        self.size = os.path.getsize(item.path)
        self.bytes_read = 0  # up to the end of the chunk last handed out
        self.chunk_start = 0  # bytes before that chunk
        # Called as reject(number=, line=, reason=, data=) for a record that cannot be decoded.
        self.reject = None
        self.first = 1  # the number of the chunk's first record
        self.numbers: list[int] | None = None  # or each record's number, when some were left out
        self.seen = 0  # records read so far, rejected ones included

    def number(self, i: int) -> int:
        return self.first + i if self.numbers is None else self.numbers[i]

    def _rejected(self, *, number: int, line: int | None, reason: str, data: Any) -> None:
        if self.reject is None:
            where = f"line {line}: " if line is not None else f"record {number}: "
            raise self._fail(where, reason)
        if isinstance(data, str) and len(data) > _REJECT_TEXT_MAX:  # a giant line of garbage
            data = data[:_REJECT_TEXT_MAX] + "…"
        self.reject(number=number, line=line, reason=reason, data=data)

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        raise NotImplementedError

    def frames(self, chunk_rows: int, chunk_bytes: int = 0) -> Iterator[pd.DataFrame]:
        """DataFrames of about CHUNK_BYTES of input each, or CHUNK_ROWS rows when it is 0."""
        raise NotImplementedError

    def prefetch(self, chunk_bytes: int) -> None:
        """Start reading an input that is read all at once (recordsets), in a thread, as
        Arrow data: frames() then takes what it read. Readers without that do nothing."""

    def _rows_of(self, chunk_rows: int, chunk_bytes: int, rows: int, size: int) -> int:
        """Rows in CHUNK_BYTES when ROWS rows take SIZE bytes; CHUNK_ROWS without bytes."""
        if not chunk_bytes or not rows or not size:
            return chunk_rows
        return max(1, chunk_bytes * rows // size)

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
        yield from self._chunks(chunk_rows, objects=False)

    def frames(self, chunk_rows: int, chunk_bytes: int = 0) -> Iterator[pd.DataFrame]:
        for records in self._chunks(chunk_rows, objects=True, chunk_bytes=chunk_bytes):
            yield pd.DataFrame(records)

    def _chunks(
        self, chunk_rows: int, *, objects: bool, chunk_bytes: int = 0
    ) -> Iterator[list[Any]]:
        """Lists of decoded records; OBJECTS: a table's rows, so only JSON objects."""
        line_no = number = 0
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        with open(self.path, "rb") as f:
            # readlines(hint): whole lines, about CHUNK_BYTES of them.
            take = (lambda: f.readlines(chunk_bytes)) if chunk_bytes else (
                lambda: list(itertools.islice(f, chunk_rows))
            )  # fmt: skip
            while lines := take():
                self._advance(self.bytes_read + sum(map(len, lines)))
                numbers, records = [], []
                for line in lines:
                    line_no += 1
                    if line.isspace():  # blank lines (often a trailing one) are not records
                        continue
                    number += 1
                    try:
                        value = loads(line)
                    except decode_error as exc:
                        self._rejected(
                            number=number, line=line_no, reason=_json_reason(exc, line),
                            data=line.decode("utf-8", "replace").rstrip("\r\n"),
                        )  # fmt: skip
                        continue
                    if objects and not isinstance(value, dict):
                        self._rejected(
                            number=number, line=line_no, data=value,
                            reason=f"a JSON object is expected, found {_kind(value)}",
                        )  # fmt: skip
                        continue
                    records.append(value)
                    numbers.append(number)
                self.seen = number
                if records:
                    self.numbers = numbers
                    yield records


def _json_reason(exc: orjson.JSONDecodeError, line: bytes) -> str:
    if "UTF-8" in exc.msg:
        return "not UTF-8 text"
    # exc.pos counts the newline too; past the text means "at its end".
    column = min(exc.pos, len(line.rstrip(b"\r\n"))) + 1
    return f"invalid JSON at column {column}: {exc.msg}"


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
        if isinstance(self.value, list):
            self.seen = len(self.value)  # handed to score whole

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        count = len(self.value)
        self.bytes_read = 0
        for start in range(0, count, chunk_rows):
            chunk = self.value[start : start + chunk_rows]
            self._advance(self.size * (start + len(chunk)) // count)
            self.first, self.numbers = start + 1, None
            self.seen = start + len(chunk)
            yield chunk

    def frames(self, chunk_rows: int, chunk_bytes: int = 0) -> Iterator[pd.DataFrame]:
        chunk_rows = self._rows_of(chunk_rows, chunk_bytes, len(self.value), self.size)
        for start in range(0, len(self.value), chunk_rows):
            chunk = self.value[start : start + chunk_rows]
            self.first, self.numbers = start + 1, None
            self.seen = start + len(chunk)
            if all(isinstance(item, dict) for item in chunk):
                yield pd.DataFrame(chunk)
                continue
            numbers, records = [], []
            for i, item in enumerate(chunk, start=start + 1):
                if isinstance(item, dict):
                    numbers.append(i)
                    records.append(item)
                else:
                    reason = f"a JSON object is expected, found {_kind(item)}"
                    self._rejected(number=i, line=None, reason=reason, data=item)
            if records:
                self.numbers = numbers
                yield pd.DataFrame(records)


class CsvReader(Reader):
    # "Error tokenizing data. C error: Expected 4 fields in line 8, saw 5"
    _TOKENIZE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")

    def __init__(self, item: InputFile) -> None:
        super().__init__(item)
        # Field → Avro type, from a checked input schema: a column with a bad cell is parsed
        # as text, so its good cells are converted back (frame_typed) and only the bad row
        # fails the check.
        self.types: dict[str, str] = {}
        self.read_by = ""  # "pyarrow" once its fast path has the file, else "pandas"
        # All at once (recordsets): pyarrow's read_csv, which parses blocks on every core.
        self.at_once = False
        self._whole = None  # the Future of that read_csv, when prefetch() started it

    def prefetch(self, chunk_bytes: int) -> None:
        if not self.at_once or not chunk_bytes or self._whole is not None:
            return
        try:
            pa, _ = arrow()
            import pyarrow.csv as pcsv
        except (JobError, ImportError):
            return
        options = _csv_options(pcsv, chunk_bytes)
        self._whole = in_thread(lambda: pcsv.read_csv(self.path, **options))

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        for frame in self.frames(chunk_rows):
            yield frame.to_dict("records")

    def frames(self, chunk_rows: int, chunk_bytes: int = 0) -> Iterator[pd.DataFrame]:
        """Fastest path (CHUNK_BYTES given): pyarrow's multithreaded reader, for files whose
        columns it reads as pandas would (_arrow_frames). Fast path: pandas reads the file in
        chunks. At the first chunk that does not parse, reading starts again after the records
        already handed out, the careful way."""
        done = 0
        if chunk_bytes and (frames := self._arrow_frames(chunk_bytes)) is not None:
            for frame in frames:
                if frame is None:  # pyarrow cannot go on: pandas takes over after DONE records
                    chunk_rows = self._rows_of(chunk_rows, chunk_bytes, done, self.bytes_read)
                    break
                self.first, self.numbers = done + 1, None
                done += len(frame)
                self.seen = done
                yield frame
            else:
                self.bytes_read = self.size
                return
            if done:
                self.read_by = "pandas"
                yield from self._frames_careful(chunk_rows, skip=done)
                return
        elif chunk_bytes:
            chunk_rows = self._rows_estimate(chunk_rows, chunk_bytes)
        self.read_by = "pandas"
        try:
            with open(self.path, "rb") as f, warnings.catch_warnings():
                # Rows with one field more than the header would silently make the first
                # column the index (shifting every value); index_col=False makes that a
                # warning, and the warning an error.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                for frame in pd.read_csv(f, chunksize=chunk_rows, index_col=False):
                    self._advance(f.tell())  # the parser reads ahead: close, not exact
                    self.first, self.numbers = done + 1, None
                    done += len(frame)
                    self.seen = done
                    yield frame_typed(frame, self.types) if self.types else frame
        except pd.errors.EmptyDataError:
            return  # an empty file (not even a header) has no records
        except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError):
            yield from self._frames_careful(chunk_rows, skip=done)
            return
        self.bytes_read = self.size

    def _rows_estimate(self, chunk_rows: int, chunk_bytes: int) -> int:
        """About how many rows CHUNK_BYTES hold, from the lines of the file's first 64 KiB."""
        with open(self.path, "rb") as f:
            head = f.read(65536)
        return self._rows_of(chunk_rows, chunk_bytes, head.count(b"\n"), len(head))

    def _arrow_frames(self, chunk_bytes: int) -> Iterator[pd.DataFrame | None] | None:
        """The file in DataFrames of about CHUNK_BYTES, read by pyarrow.csv, when its first
        rows read by pandas give the same DataFrame (names, dtypes, values); None when not
        (or without pyarrow), so that pandas reads it all. The frames end with None when
        pyarrow fails further on (a row that does not parse, text that is not UTF-8, a column
        whose type changes): pandas goes on from there."""
        try:
            pa, _ = arrow()
            import pyarrow.csv as pcsv
        except (JobError, ImportError):
            return None
        options = _csv_options(pcsv, chunk_bytes)
        if self.at_once:
            return self._arrow_whole(pa, pcsv, options)
        source = pa.OSFile(self.path)
        try:
            stream = pcsv.open_csv(source, **options)
            batch = stream.read_next_batch() if self._arrow_fits(stream.schema, pa) else None
        except (pa.ArrowException, OSError, StopIteration):
            batch = None  # empty, or a first block that does not parse: pandas says why
        if batch is None or not self._same_as_pandas(first := _arrow_pandas(batch)):
            source.close()
            return None
        self._advance(source.tell())  # the reader reads ahead: close, not exact
        self.read_by = "pyarrow"
        return self._arrow_rest(source, stream, first, pa)

    def _arrow_whole(self, pa, pcsv, options) -> Iterator[pd.DataFrame] | None:
        """The whole file as one DataFrame by pyarrow.csv.read_csv, or None (pandas reads it):
        no record is handed out before the file is read, so pandas may start from the top."""
        try:
            if self._whole is not None:  # read while the model's init ran
                table, self._whole = self._whole.result(), None
            else:
                table = pcsv.read_csv(self.path, **options)
        except (pa.ArrowException, OSError):
            return None
        if not self._arrow_fits(table.schema, pa):
            return None
        frame = table.to_pandas(self_destruct=True, split_blocks=False)
        del table
        frame = _arrow_bools(frame)
        if not self._same_as_pandas(frame):
            return None
        self.read_by = "pyarrow"
        self.bytes_read = self.size
        return iter([frame_typed(frame, self.types) if self.types else frame])

    def _arrow_rest(self, source, stream, first, pa) -> Iterator[pd.DataFrame | None]:
        def batches():  # in the read-ahead thread: Arrow only
            while True:
                try:
                    batch = stream.read_next_batch()
                except StopIteration:
                    return
                yield batch, source.tell()

        with source:
            yield frame_typed(first, self.types) if self.types else first
            ahead = Ahead(batches, limit=_AHEAD_BATCHES)
            try:
                for batch, position in ahead:
                    self._advance(position)
                    frame = _arrow_pandas(batch)
                    yield frame_typed(frame, self.types) if self.types else frame
            except (pa.ArrowException, OSError):
                yield None
            finally:
                ahead.close()  # before the source closes

    @staticmethod
    def _arrow_fits(schema, pa) -> bool:
        """Whether pyarrow read every column as one pandas would give the same: whole numbers,
        floats, text, booleans (not dates, which pandas leaves as text, nor columns with no
        value), under names that are all there and different (pandas renames the others)."""
        simple = (pa.types.is_int64, pa.types.is_float64, pa.types.is_string, pa.types.is_boolean)
        names = schema.names
        return (
            len(set(names)) == len(names)
            and all(names)
            and all(any(test(field.type) for test in simple) for field in schema)
        )

    def _same_as_pandas(self, frame: pd.DataFrame) -> bool:
        rows = min(len(frame), _COMPARED_ROWS)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                theirs = pd.read_csv(self.path, nrows=rows, index_col=False)
        except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, ValueError):
            return False
        ours = frame.iloc[:rows]
        return (
            list(theirs.columns) == list(ours.columns)
            and list(theirs.dtypes) == list(ours.dtypes)
            and theirs.equals(ours)
        )

    def _frames_careful(self, chunk_rows: int, *, skip: int) -> Iterator[pd.DataFrame]:
        """Chunks of CHUNK_ROWS lines after the first SKIP records, each parsed whole and,
        when that fails, row by row (_salvage)."""
        with open(self.path, "rb") as f:
            header, line_no, consumed = b"", 0, 0
            for raw in f:  # blank lines before the header are skipped, as pandas does
                line_no += 1
                consumed += len(raw)
                if raw.strip(_WHITESPACE):
                    header = raw if raw.endswith(b"\n") else raw + b"\n"
                    break
            if not header:
                return  # an empty file (not even a header) has no records
            try:
                self.width = len(next(csv.reader([header.decode("utf-8-sig")])))
            except UnicodeDecodeError:
                raise self._fail(f"line {line_no}: ", f"not UTF-8 text; {_SAVE_AS_UTF8}") from None
            number, first_chunk, quoted = 0, skip == 0, False
            while number < skip and (raw := f.readline()):
                line_no += 1
                consumed += len(raw)
                if not quoted and not raw.strip(_WHITESPACE):
                    continue  # a blank line is no record
                quoted ^= raw.count(b'"') % 2 == 1
                number += not quoted
            while lines := list(itertools.islice(f, chunk_rows)):
                text = b"".join(lines)
                if text.count(b'"') % 2:  # a quoted field goes on past the chunk's last line
                    for raw in f:
                        lines.append(raw)
                        text += raw
                        if raw.count(b'"') % 2:
                            break
                consumed += len(text)
                self._advance(consumed)
                frame = self._parse(header + text)
                if frame is not None:
                    self.first, self.numbers = number + 1, None
                    number += len(frame)
                else:
                    frame, number = self._salvage(header, lines, line_no + 1, number, first_chunk)
                line_no += len(lines)
                first_chunk = False
                self.seen = number
                if len(frame):
                    yield frame_typed(frame, self.types) if self.types else frame
        self.bytes_read = self.size

    @staticmethod
    def _parse(data: bytes) -> pd.DataFrame | None:
        """The chunk as one DataFrame, or None when any row of it does not parse."""
        with warnings.catch_warnings():
            # Rows with one field more than the header would silently make the first column
            # the index (shifting every value); index_col=False makes that a warning, and
            # the warning an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                return pd.read_csv(io.BytesIO(data), index_col=False)
            except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError):
                return None

    def _salvage(
        self, header: bytes, lines: list[bytes], first_line: int, number: int, first_chunk: bool
    ) -> tuple[pd.DataFrame, int]:
        """A chunk that failed to parse, row by row: rows that cannot be decoded are rejected,
        the others parsed together again. Returns them and the number of the last record."""
        good: list[bytes] = []
        numbers: list[int] = []
        bad: list[tuple[int, int, str, bytes]] = []
        i = 0
        while i < len(lines):
            start = i
            raw = lines[i]
            i += 1
            while raw.count(b'"') % 2 and i < len(lines):  # a quoted field spans lines
                raw += lines[i]
                i += 1
            if not raw.strip(_WHITESPACE):
                continue
            number += 1
            reason = _csv_row_reason(raw, self.width)
            if reason is None:
                good.append(raw)
                numbers.append(number)
            else:
                bad.append((number, first_line + start, reason, raw))
        if first_chunk and not good and bad and all(b[2].startswith("Expected ") for b in bad):
            raise self._fail(
                "",
                "the rows have more fields than the header line names; give every "
                "column a name in the header, or remove the extra fields",
            )
        for bad_number, line, reason, raw in bad:
            data = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._rejected(number=bad_number, line=line, reason=reason, data=data)
        if not good:
            return pd.DataFrame(), number
        frame = self._parse(header + b"".join(good))
        if frame is None or len(frame) != len(good):
            raise self._fail(f"lines {first_line}–{first_line + len(lines) - 1}: ", "not valid CSV")
        self.numbers = numbers
        return frame, number


def _csv_row_reason(raw: bytes, width: int) -> str | None:
    """Why one CSV row (its raw bytes, maybe several lines) cannot be decoded; None if it can."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start + 1} of the row)"
    try:
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        return f"not valid CSV: {exc}"
    if len(rows) != 1:
        return "not valid CSV: an unclosed quote"
    if len(rows[0]) > width:
        return f"Expected {width} fields, saw {len(rows[0])}"
    return None


def _csv_options(pcsv, chunk_bytes: int) -> dict:
    """pyarrow.csv's options that read a file as pandas' read_csv does (where it can)."""
    return {
        "read_options": pcsv.ReadOptions(block_size=chunk_bytes),
        "parse_options": pcsv.ParseOptions(newlines_in_values=True),
        "convert_options": pcsv.ConvertOptions(
            null_values=_PANDAS_NA, strings_can_be_null=True,
            true_values=["True", "TRUE", "true"], false_values=["False", "FALSE", "false"],
        ),
    }  # fmt: skip


# pandas' default missing values (pandas.read_csv's na_values), for pyarrow.
_PANDAS_NA = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
_COMPARED_ROWS = 1000  # rows of a CSV file read by pandas too, to see pyarrow reads it the same


def _arrow_bools(frame: pd.DataFrame) -> pd.DataFrame:
    """FRAME's object columns of booleans with missing values hold NaN for them, not None."""
    for column in frame.select_dtypes(include="object", exclude="str").columns:
        series = frame[column]
        present = series.notna()
        if not present.all() and series[present].map(type).eq(bool).all():
            frame[column] = series.where(present, np.nan)
    return frame


def _arrow_pandas(batch) -> pd.DataFrame:
    """A pyarrow batch as pandas' read_csv would give it: a boolean column with missing
    values holds NaN for them, as pandas' does, not None."""
    frame = batch.to_pandas()
    for i, field in enumerate(batch.schema):
        if str(field.type) != "bool":
            continue
        if batch.column(i).null_count:
            column = frame.iloc[:, i]
            frame[field.name] = column.where(column.notna(), np.nan)
    return frame


_NUMERIC = {"int", "long", "float", "double"}
_TRUE = {"true": True, "false": False, "1": True, "0": False}


def frame_typed(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """FRAME with each text column whose schema type is a number or a boolean converted cell
    by cell: good cells get their type, a bad cell keeps its text (and fails the check), a
    missing one is None."""
    for column, kind in types.items():
        if column not in frame.columns:
            continue
        series = frame[column]
        if not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
            continue
        present = series.notna()
        if kind in _NUMERIC:
            converted = pd.to_numeric(series, errors="coerce")
            ok = converted.notna() & present
            if kind in ("int", "long"):
                ok &= converted.where(ok, 0) % 1 == 0
        elif kind == "boolean":
            converted = series.str.strip().str.lower().map(_TRUE)
            ok = converted.notna() & present
        else:
            continue
        if not ok.any():
            continue
        values = series.astype(object)
        values[~present] = None  # a missing cell is null, not NaN (no boolean or long)
        good = converted[ok]
        if kind in ("int", "long"):
            good = good.astype("int64")
        values[ok] = good.astype(object)
        frame = frame.assign(**{column: values})
    return frame


class ParquetReader(Reader):
    def __init__(self, item: InputFile) -> None:
        super().__init__(item)
        self.pa, pq = arrow()
        try:
            # pre_buffer would read the whole file into memory ahead of the batches.
            self.file = pq.ParquetFile(self.path, pre_buffer=False)
        except (self.pa.ArrowException, OSError) as exc:
            raise self._fail("", f"not a Parquet file: {exc}") from None
        self.rows = self.file.metadata.num_rows
        # All at once (recordsets): one read of the whole file, its columns on every core.
        self.at_once = False
        self._whole = None  # the Future of that read, when prefetch() started it

    def prefetch(self, chunk_bytes: int) -> None:
        if self.at_once and self._whole is None:
            self._whole = in_thread(self.file.read)

    def _batches(self, chunk_rows: int) -> Iterator[Any]:  # pyarrow.RecordBatch
        done = 0
        ahead = Ahead(lambda: self.file.iter_batches(batch_size=chunk_rows), limit=_AHEAD_BATCHES)
        try:
            for batch in ahead:
                done += batch.num_rows
                self.first, self.seen = done - batch.num_rows + 1, done
                # Row fraction of the file size: Parquet is columnar, byte offsets mean little.
                self._advance(self.size * done // max(self.rows, 1))
                yield batch
        except (self.pa.ArrowException, OSError) as exc:  # OSError: a page that does not decode
            raise self._fail(f"near row {done + 1}: ", f"cannot be read: {exc}") from None
        finally:
            ahead.close()

    def records(self, chunk_rows: int) -> Iterator[list[Any]]:
        for batch in self._batches(chunk_rows):
            yield batch.to_pylist()

    def frames(self, chunk_rows: int, chunk_bytes: int = 0) -> Iterator[pd.DataFrame]:
        if self.at_once:
            yield self._whole_frame()
            return
        # Bytes as Arrow holds them (uncompressed), not as the file does.
        meta = self.file.metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        for batch in self._batches(self._rows_of(chunk_rows, chunk_bytes, self.rows, size)):
            yield batch.to_pandas()

    def _whole_frame(self) -> pd.DataFrame:
        try:
            if self._whole is not None:  # read while the model's init ran
                table, self._whole = self._whole.result(), None
            else:
                table = self.file.read()
        except (self.pa.ArrowException, OSError) as exc:  # OSError: a page that does not decode
            raise self._fail("", f"cannot be read: {exc}") from None
        self.first, self.numbers, self.seen = 1, None, table.num_rows
        self.bytes_read = self.size
        return table.to_pandas(self_destruct=True, split_blocks=False)


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


def reader_open(item: InputFile, *, lines_are_records: bool = False) -> Reader:
    """A reader of ITEM. LINES_ARE_RECORDS (an input schema of type array): a JSON file is
    read line by line even when it starts with "[", each line one record, as ModelOp does."""
    if item.format in ("csv", "json", "jsonl"):
        _text_check(item)
    if item.format == "csv":
        return CsvReader(item)
    if item.format == "parquet":
        return ParquetReader(item)
    if item.format in ("json", "jsonl"):
        # ModelOp's rule: a file that starts with "[" is an array, anything else JSON lines
        # (".json" files with one record per line are common).
        if _first_byte(item.path) == b"[" and not lines_are_records:
            return JsonArrayReader(item)
        return JsonLinesReader(item)
    raise JobError(f"input '{item.name}': unknown format {item.format!r}")
