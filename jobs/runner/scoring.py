"""Scoring jobs: call the model's score function on the inputs, in the mode its tags ask for.

    per record (ModelOp's default)   score(dict) once per record
    all at once (JSON array file)    score(list) once for the whole array
    recordsets (modelop.recordsets.0) score(DataFrame) once for all input
    batch (moc.batch, ours)          score(DataFrame) once per chunk of chunk_bytes of input

Each value score yields (or returns) is one output record, written as it is; DataFrames are
written one record per row in batch mode and with modelop.recordsets.1, and in batch mode a
list of dicts is records too.
"""

from __future__ import annotations

import datetime
import decimal
import inspect
import itertools
import math
import os
import sys
import time
import types
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from jobs.runner.errors import JobError
from jobs.runner.events import Counts, Events
from jobs.runner.modelcode import ModelCode, describe, log_traceback
from jobs.runner.readers import (
    CsvReader,
    ParquetReader,
    Reader,
    arrow_memory_streamed,
    reader_open,
)
from jobs.runner.rejects import RejectLimits, Rejects
from jobs.runner.schemas import SchemaCheck
from jobs.runner.spec import JobSpec
from jobs.runner.writers import JsonLinesWriter, Writer, json_line, writer_open

__all__ = ["Rejects", "ScoringRun", "frames_checked"]


def frame_checked(
    frame: pd.DataFrame, *, check: SchemaCheck | None, rejects: Rejects, reader: Reader
) -> pd.DataFrame:
    """FRAME (the chunk READER handed out last) without its rows that fail the input schema
    CHECK, each written to REJECTS with its record number."""
    if check is None or not len(frame):
        return frame
    keep = []
    for i, record in enumerate(frame.to_dict("records")):
        if (reason := check.reason(record)) is None:
            keep.append(i)
        else:
            rejects.add(
                direction="input", asset=reader.name, record=reader.number(i), reason=reason,
                data=record,
            )  # fmt: skip
    if len(keep) == len(frame):
        return frame
    # A text column converted cell by cell (CsvReader.types) gets its type back.
    return frame.iloc[keep].infer_objects()


def reader_hooked(reader: Reader, rejects: Rejects) -> Reader:
    """READER with its undecodable records rejected into REJECTS (counted), not fatal."""

    def reject(*, number: int, line: int | None, reason: str, data: Any) -> None:
        rejects.add(
            direction="input", asset=reader.name, record=number, line=line, reason=reason,
            data=data,
        )  # fmt: skip

    reader.reject = reject
    return reader


def frames_checked(
    reader,
    *,
    chunk_rows: int,
    chunk_bytes: int = 0,
    check: SchemaCheck | None,
    rejects: Rejects,
    counts: Counts,
    events,
    bytes_before: int = 0,
):
    """The chunks of one input asset, each without its rows that fail CHECK, counting records
    and bytes read (BYTES_BEFORE from earlier assets) and reporting progress per chunk. Metrics
    and training jobs gather them, as their functions take all records at once."""
    reader_hooked(reader, rejects)
    before = counts.records_read
    for frame in reader.frames(chunk_rows, chunk_bytes):
        counts.records_read = before + reader.seen
        yield frame_checked(frame, check=check, rejects=rejects, reader=reader)
        counts.bytes_read = bytes_before + reader.bytes_read
        events.progress(counts)
    counts.records_read = before + reader.seen
    counts.bytes_read = bytes_before + reader.size


class Output:
    """Score results → output schema check → JSON encoding check → writer, counting what is
    written and rejected. An output value that cannot be encoded as JSON (NaN, ±infinity, an
    object with no JSON form) is rejected, never written as null. In DataFrames (batch mode,
    modelop.recordsets.1) NaN is pandas' missing value and is written as null; ±infinity is
    rejected."""

    def __init__(
        self,
        *,
        writer: Writer,
        check: SchemaCheck | None,
        rejects: Rejects,
        counts: Counts,
        frames_as_records: bool,
        lists_as_records: bool,
    ) -> None:
        self.writer = writer
        self.check = check
        self.rejects = rejects
        self.counts = counts
        self.frames_as_records = frames_as_records
        self.lists_as_records = lists_as_records
        self.json = isinstance(writer, JsonLinesWriter)  # JSON lines or a JSON array
        self.produced = 0  # output records produced, written or rejected: numbers rejects

    def emit(self, values: list[Any]) -> None:
        pending: list[Any] = []
        for value in values:
            if self.frames_as_records and isinstance(value, pd.DataFrame):
                self._values(pending)
                pending = []
                self._frame(value)
            elif self.lists_as_records and _is_record_list(value):
                pending.extend(value)
            else:
                pending.append(value)
        self._values(pending)

    def _values(self, values: list[Any]) -> None:
        if not values:
            return
        first = self.produced + 1
        self.produced += len(values)
        numbered: Any = enumerate(values, start=first)
        if self.check is not None:
            numbered = [(n, v) for n, v in numbered if self._fits(n, v)]
        if not self.json:
            kept = values if self.check is None else [v for _, v in numbered]
            self.writer.write_values(kept)
            self.counts.records_written += len(kept)
            return
        lines = []
        for number, value in numbered:
            try:
                line = json_line(value)
            except TypeError as exc:
                self._reject(number, f"cannot be encoded as JSON: {exc}", value)
                continue
            # orjson writes NaN and ±infinity as null: look closer only when a null is there.
            if b"null" in line and (where := non_finite(value)) is not None:
                self._reject(number, f"cannot be encoded as JSON: {where}", value)
                continue
            lines.append(line)
        self.writer.write_encoded(b"".join(lines))
        self.counts.records_written += len(lines)

    def _fits(self, number: int, value: Any) -> bool:
        if (reason := self.check.reason(value)) is None:
            return True
        self._reject(number, reason, value)
        return False

    def _frame(self, frame: pd.DataFrame) -> None:
        first = self.produced + 1
        self.produced += len(frame)
        if not len(frame):
            return
        # The rows left out, not those kept: a set of every row cost 0.1 s per million.
        dropped: set[int] = set()
        if self.check is not None:
            for i, record in enumerate(frame.to_dict("records")):
                if not self._fits(first + i, record):
                    dropped.add(i)
        if self.json and (unencodable := _unencodable_rows(frame)):
            for i, column in sorted(unencodable.items()):
                if i not in dropped:
                    record = frame.iloc[[i]].to_dict("records")[0]
                    value = record[column]
                    name = type(value).__name__
                    article = "an" if name[:1] in "aeiou" else "a"
                    shown = value if isinstance(value, float) else f"{article} {name}"
                    reason = f"cannot be encoded as JSON: field '{column}' is {shown}"
                    self._reject(first + i, reason, record)
                    dropped.add(i)
        if dropped:
            frame = frame.iloc[[i for i in range(len(frame)) if i not in dropped]]
        self.writer.write_frame(frame)
        self.counts.records_written += len(frame)

    def _reject(self, number: int, reason: str, data: Any) -> None:
        self.rejects.add(direction="output", record=number, reason=reason, data=data)


_JSON_CELLS = (
    str, int, float, bool, type(None), dict, list, tuple, np.generic, np.ndarray,
    datetime.date, datetime.time, decimal.Decimal,
)  # fmt: skip


def _json_cell(value: Any) -> bool:
    """Whether one cell of an object column has a JSON form (NaN: a missing value)."""
    if isinstance(value, float):
        return not math.isinf(value)
    return isinstance(value, _JSON_CELLS)


def _unencodable_rows(frame: pd.DataFrame) -> dict[int, str] | None:
    """Positions of FRAME's rows that JSON cannot hold, with the column: ±infinity in a float
    column, or in an object column a value of no JSON form (which pandas would write as {}).
    None when there are none: a float column costs one vectorised test."""
    found: dict[int, str] = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_float_dtype(series.dtype):
            bad = np.isinf(series.to_numpy(dtype=float, na_value=np.nan))
        elif series.dtype == object:
            bad = ~series.map(_json_cell).to_numpy(bool)
        else:
            continue
        if bad.any():
            for i in np.flatnonzero(bad):
                found.setdefault(int(i), str(column))
    return found or None


def non_finite(value: Any, path: str = "") -> str | None:
    """Where VALUE holds NaN or ±infinity (which orjson would write as null), or None."""
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return f"{path or 'the value'} is {value}"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if where := non_finite(item, f"field '{key}'" if not path else f"{path}.{key}"):
                return where
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if (where := non_finite(item, f"{path}[{i}]" if path else f"item {i}")) is not None:
                return where
        return None
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        if not np.isfinite(value).all():
            return f"{path or 'the value'} holds {value[~np.isfinite(value)][0]}"
        return None
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        return f"{path or 'the value'} is {value}"
    if isinstance(value, pd.Series | pd.DataFrame):
        return non_finite(value.to_dict() if isinstance(value, pd.Series) else
                          value.to_dict("records"), path)  # fmt: skip
    return None


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


# Not a bad record but the end of the job: the model exits, or the process is out of memory.
_FATAL = (SystemExit, MemoryError)

# After this many, a score exception's traceback is no longer logged (its reason still is).
LOGGED_TRACEBACKS = 10


class ScoringRun:
    """Record-level semantics (ModelOp's): a record that cannot be decoded, fails the input
    schema, makes score raise, or gives an output that cannot be encoded is rejected and the
    job goes on. In batch, recordsets and all-at-once modes an exception of score rejects
    every record of that call (the chunk, all input, the array): the call's output is lost
    with it."""

    def __init__(self, *, spec: JobSpec, model: ModelCode, events: Events) -> None:
        self.spec = spec
        self.model = model
        self.events = events
        self.tags = model.tags
        score = model.function("score")
        if score is None:
            raise JobError("the model has no score function (tag '# modelop.score')")
        self.score = score
        # score(record, slot): ModelOp's slots, inputs on 0, 2, 4, ... in input order.
        self.slotted = _required_positional(score) >= 2
        self.slot = 0
        self.counts = Counts(bytes_total=sum(os.path.getsize(i.path) for i in spec.inputs))
        self.bytes_done = 0  # bytes of the inputs already finished
        self.read_done = 0  # records of the inputs already finished
        self.input_check = (
            SchemaCheck(path=spec.input_schema, label="input") if spec.check_input_schema else None
        )
        self.lines_are_records = _schema_is_array(spec)
        output_check = (
            SchemaCheck(path=spec.output_schema, label="output")
            if spec.check_output_schema
            else None
        )
        self.rejects = Rejects(spec.rejects_path, self.counts, RejectLimits.of(spec))
        self.output = Output(
            writer=writer_open(
                path=spec.output_path, name=spec.output_name, format=spec.output_format
            ),
            check=output_check,
            rejects=self.rejects,
            counts=self.counts,
            frames_as_records=self.tags.batch or self.tags.recordsets_out,
            lists_as_records=self.tags.batch,
        )
        self.several_inputs = len(spec.inputs) > 1
        self.tracebacks = 0
        self.opened: list[Reader] = []  # recordsets' readers, opened by prefetch()

    def prefetch(self) -> None:
        """Called before the model's init: a recordsets job's inputs start being read (as
        Arrow data, in a thread) while init runs, since score needs them all anyway."""
        if self.tags.batch or not self.tags.recordsets_in:
            return
        self.opened = [self._open_at_once(item) for item in self.spec.inputs]
        for reader in self.opened:
            reader.prefetch(self.spec.chunk_bytes)

    def run(self) -> Counts:
        streamed = self.tags.batch or not self.tags.recordsets_in
        if streamed and any(item.format == "csv" for item in self.spec.inputs):
            arrow_memory_streamed()
        try:
            if self.tags.batch:
                self._each_input(self._batch)
            elif self.tags.recordsets_in:
                self._recordsets()
            else:
                self._each_input(lambda r: self._all_at_once(r) if r.whole else self._per_record(r))
        finally:
            self.rejects.close()
        self.output.writer.close()
        self.rejects.finish()
        return self.counts

    # --- Modes ------------------------------------------------------------------------------

    def _open_at_once(self, item) -> Reader:
        reader = self._open(item)
        # All input at once anyway: CSV and Parquet are read whole, on every core.
        reader.at_once = isinstance(reader, CsvReader | ParquetReader)
        return reader

    def _open(self, item) -> Reader:
        reader = reader_hooked(
            reader_open(item, lines_are_records=self.lines_are_records), self.rejects
        )
        if isinstance(reader, CsvReader) and self.input_check is not None:
            reader.types = self.input_check.field_types()
        return reader

    def _each_input(self, run_one) -> None:
        for index, item in enumerate(self.spec.inputs):
            self.slot = 2 * index
            reader = self._open(item)  # one at a time: a JSON array is held whole
            run_one(reader)
            self._input_finished(reader)

    def _per_record(self, reader: Reader) -> None:
        score, check, counts, events, out = (
            self._scorer(),
            self.input_check,
            self.counts,
            self.events,
            [],
        )
        clock = time.monotonic  # looked at after every record: a slow model still reports
        read_done = self.read_done
        for records in reader.records(self.spec.chunk_rows):
            first_read = read_done + reader.seen - len(records)
            for done, record in enumerate(records):
                counts.records_read = first_read + done + 1
                if check is not None and (reason := check.reason(record)) is not None:
                    self._reject_input(reader, reader.number(done), reason, record)
                    continue
                try:
                    result = score(record)
                    if result is not None:
                        if type(result) is types.GeneratorType or isinstance(result, Iterator):
                            out.extend(list(result))
                        else:
                            out.append(result)
                except _FATAL as exc:
                    raise self._score_failed(
                        exc, f"on input record {reader.number(done)}{self._in(reader)}"
                    ) from exc
                except Exception as exc:
                    self._score_raised(exc, reader, [reader.number(done)], [record])
                if clock() >= events.next_progress:
                    self.output.emit(out)
                    out = []
                    self._progress(reader, reader.position(done + 1, len(records)))
            self.output.emit(out)
            out = []
            counts.records_read = read_done + reader.seen
            self._progress(reader)
        counts.records_read = read_done + reader.seen

    def _all_at_once(self, reader: Reader) -> None:
        numbers, records = self._checked_records(reader, reader.value)
        self.counts.records_read = self.read_done + len(reader.value)
        self._progress(reader)
        if records:
            where = f"on the array of {len(records)} records in '{reader.name}'"
            self.output.emit(
                self._call(records, where, reader=reader, numbers=numbers, data=records)
            )

    def _recordsets(self) -> None:
        # Per chunk: its reader and its records' numbers (a range unless some were left out),
        # looked at only when score raises: a pair per record cost 2 s per million.
        frames, numbered, readers = [], [], []
        for item, opened in itertools.zip_longest(self.spec.inputs, self.opened):
            reader = opened or self._open_at_once(item)
            for frame in reader.frames(self.spec.chunk_rows, self.spec.chunk_bytes):
                self.counts.records_read = self.read_done + reader.seen
                checked = self._checked_frame(reader, frame)
                frames.append(checked)
                numbered.append((reader, self._numbers(reader, frame, checked)))
                self._progress(reader)
            self.counts.records_read = self.read_done + reader.seen
            readers.append(reader)
            self._input_finished(reader)
        if len(frames) == 1 and frames[0].index.equals(pd.RangeIndex(len(frames[0]))):
            frame = frames[0]  # what concat would give, without its copy
        else:
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if len(frame):
            try:
                result = self._result(self._scorer()(frame))
            except _FATAL as exc:
                raise self._score_failed(exc, f"on all {len(frame)} input records") from exc
            except Exception as exc:
                self._log_traceback(exc)
                reason = self._reason(exc, f"on all {len(frame)} input records")
                numbers = [(r, n) for r, chunk in numbered for n in chunk]
                for (reader, number), record in zip(numbers, frame.to_dict("records"), strict=True):
                    self._reject_input(reader, number, reason, record)
                return
            self.output.emit(result)

    def _batch(self, reader: Reader) -> None:
        suffix = self._in(reader)
        for frame in reader.frames(self.spec.chunk_rows, self.spec.chunk_bytes):
            self.counts.records_read = self.read_done + reader.seen
            checked = self._checked_frame(reader, frame)
            first, last = reader.number(0), reader.number(len(frame) - 1)
            where = f"on input records {first}–{last}{suffix}"
            if len(checked):
                numbers = self._numbers(reader, frame, checked)
                self.output.emit(
                    self._call(checked, where, reader=reader, numbers=numbers, data=checked)
                )
            self._progress(reader)
        self.counts.records_read = self.read_done + reader.seen

    # --- Helpers ----------------------------------------------------------------------------

    def _scorer(self):
        """The score function as this input calls it: score(x), or score(x, slot)."""
        if not self.slotted:
            return self.score
        score, slot = self.score, self.slot
        return lambda argument: score(argument, slot)

    @staticmethod
    def _numbers(reader: Reader, frame: pd.DataFrame, checked: pd.DataFrame) -> Sequence[int]:
        """The record numbers of CHECKED, the rows of FRAME (READER's last chunk) kept."""
        if len(checked) == len(frame):
            if reader.numbers is None:  # no record of the chunk was left out: a range
                return range(reader.first, reader.first + len(frame))
            return reader.numbers[: len(frame)]
        return [reader.number(i) for i in frame.index.get_indexer(checked.index)]

    @staticmethod
    def _result(result: Any) -> list[Any]:
        if result is None:
            return []
        if isinstance(result, Iterator):
            return list(result)
        return [result]

    def _call(self, argument: Any, where: str, *, reader, numbers, data) -> list[Any]:
        """score(ARGUMENT) once for several records; when it raises, each of them (NUMBERS,
        their DATA a list or a DataFrame) is rejected."""
        try:
            return self._result(self._scorer()(argument))
        except _FATAL as exc:
            raise self._score_failed(exc, where) from exc
        except Exception as exc:
            self._log_traceback(exc)
            reason = self._reason(exc, where)
            records = data.to_dict("records") if isinstance(data, pd.DataFrame) else data
            for number, record in zip(numbers, records, strict=True):
                self._reject_input(reader, number, reason, record)
            return []

    def _score_raised(self, exc: Exception, reader: Reader, numbers, records) -> None:
        self._log_traceback(exc)
        reason = self._reason(exc, "")
        for number, record in zip(numbers, records, strict=True):
            self._reject_input(reader, number, reason, record)

    def _reason(self, exc: BaseException, where: str) -> str:
        text = f"score function '{self.model.name('score')}' raised {describe(exc)}"
        return f"{text} {where}" if where else text

    def _log_traceback(self, exc: BaseException) -> None:
        self.tracebacks += 1
        if self.tracebacks <= LOGGED_TRACEBACKS:
            log_traceback(exc)
            if self.tracebacks == LOGGED_TRACEBACKS:
                print(
                    f"(only the first {LOGGED_TRACEBACKS} tracebacks of score are logged)",
                    file=sys.stderr,
                )

    def _score_failed(self, exc: BaseException, where: str) -> JobError:
        log_traceback(exc)
        return JobError(f"{self._reason(exc, where)}")

    def _checked_records(self, reader: Reader, records: list[Any]) -> tuple[list, list]:
        """The numbers and the records of RECORDS that fit the input schema."""
        if self.input_check is None:
            return list(range(1, len(records) + 1)), records
        numbers, kept = [], []
        for number, record in enumerate(records, start=1):
            if (reason := self.input_check.reason(record)) is None:
                numbers.append(number)
                kept.append(record)
            else:
                self._reject_input(reader, number, reason, record)
        return numbers, kept

    def _checked_frame(self, reader: Reader, frame: pd.DataFrame) -> pd.DataFrame:
        """FRAME (READER's last chunk) without its rows that fail the input schema."""
        return frame_checked(frame, check=self.input_check, rejects=self.rejects, reader=reader)

    def _reject_input(self, reader: Reader, number: int, reason: str, record: Any) -> None:
        self.rejects.add(
            direction="input", asset=reader.name, record=number, reason=reason, data=record
        )

    def _in(self, reader: Reader) -> str:
        return f" of '{reader.name}'" if self.several_inputs else ""

    def _progress(self, reader: Reader, position: int | None = None) -> None:
        self.counts.bytes_read = self.bytes_done + (
            reader.bytes_read if position is None else position
        )
        self.events.progress(self.counts)

    def _input_finished(self, reader: Reader) -> None:
        self.bytes_done += reader.size
        self.read_done += reader.seen
        self.counts.records_read = self.read_done
        self.counts.bytes_read = self.bytes_done


def _schema_is_array(spec: JobSpec) -> bool:
    """Whether the job's input schema is an Avro array: then each JSON line is one record."""
    if not spec.input_schema:
        return False
    try:
        with open(spec.input_schema, "rb") as f:
            raw = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return False  # a checked schema fails loudly in SchemaCheck; an unchecked one is a name
    return isinstance(raw, dict) and raw.get("type") == "array"


def _required_positional(function) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in parameters)
