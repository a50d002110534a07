"""Scoring jobs: call the model's score function on the inputs, in the mode its tags ask for.

    per record (ModelOp's default)   score(dict) once per record
    all at once (JSON array file)    score(list) once for the whole array
    recordsets (modelop.recordsets.0) score(DataFrame) once for all input
    batch (moc.batch, ours)          score(DataFrame) once per chunk of chunk_rows rows

Each value score yields (or returns) is one output record, written as it is; DataFrames are
written one record per row in batch mode and with modelop.recordsets.1, and in batch mode a
list of dicts is records too.
"""

from __future__ import annotations

import os
import time
import types
from collections.abc import Iterator
from typing import Any

import pandas as pd

from jobs.runner.errors import JobError
from jobs.runner.events import Counts, Events
from jobs.runner.modelcode import ModelCode, describe, log_traceback
from jobs.runner.readers import Reader, reader_open
from jobs.runner.schemas import SchemaCheck
from jobs.runner.spec import JobSpec
from jobs.runner.writers import Writer, json_line, writer_open


class Rejects:
    """rejects.jsonl: one line per record that failed a schema check, opened on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = None

    def add(self, *, direction: str, record: int, reason: str, data: Any, asset: str = "") -> None:
        if self.file is None:
            self.file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        entry = {"direction": direction, "record": record, "reason": reason, "data": data}
        if asset:
            entry["asset"] = asset
        try:
            self.file.write(json_line(entry))
        except TypeError:  # the rejected value itself is not JSON: keep its repr
            self.file.write(json_line({**entry, "data": repr(data)}))

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def frame_checked(
    frame: pd.DataFrame,
    *,
    check: SchemaCheck | None,
    rejects: Rejects,
    counts: Counts,
    asset: str,
    before: int,
) -> pd.DataFrame:
    """FRAME without its rows that fail the input schema CHECK, each counted and written to
    REJECTS with its record number (BEFORE rows of ASSET came earlier)."""
    if check is None or not len(frame):
        return frame
    keep = []
    for i, record in enumerate(frame.to_dict("records")):
        if (reason := check.reason(record)) is None:
            keep.append(i)
        else:
            rejects.add(
                direction="input", asset=asset, record=before + i + 1, reason=reason, data=record
            )
            counts.records_rejected += 1
    return frame if len(keep) == len(frame) else frame.iloc[keep]


def frames_checked(
    reader,
    *,
    chunk_rows: int,
    check: SchemaCheck | None,
    rejects: Rejects,
    counts: Counts,
    events,
    bytes_before: int = 0,
):
    """The chunks of one input asset, each without its rows that fail CHECK, counting records
    and bytes read (BYTES_BEFORE from earlier assets) and reporting progress per chunk. Metrics
    and training jobs gather them, as their functions take all records at once."""
    number = 0
    for frame in reader.frames(chunk_rows):
        counts.records_read += len(frame)
        yield frame_checked(
            frame, check=check, rejects=rejects, counts=counts, asset=reader.name, before=number
        )
        number += len(frame)
        counts.bytes_read = bytes_before + reader.bytes_read
        events.progress(counts)
    counts.bytes_read = bytes_before + reader.size


class Output:
    """Score results → output schema check → writer, counting what is written and rejected."""

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
        if self.check is not None:
            kept = []
            for value in values:
                self.produced += 1
                if (reason := self.check.reason(value)) is None:
                    kept.append(value)
                else:
                    self._reject(self.produced, reason, value)
            values = kept
        else:
            self.produced += len(values)
        self.writer.write_values(values)
        self.counts.records_written += len(values)

    def _frame(self, frame: pd.DataFrame) -> None:
        if self.check is not None and len(frame):
            keep = []
            for i, record in enumerate(frame.to_dict("records")):
                if (reason := self.check.reason(record)) is None:
                    keep.append(i)
                else:
                    self._reject(self.produced + i + 1, reason, record)
            self.produced += len(frame)
            if len(keep) < len(frame):
                frame = frame.iloc[keep]
        else:
            self.produced += len(frame)
        self.writer.write_frame(frame)
        self.counts.records_written += len(frame)

    def _reject(self, number: int, reason: str, data: Any) -> None:
        self.rejects.add(direction="output", record=number, reason=reason, data=data)
        self.counts.records_rejected += 1


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


class ScoringRun:
    def __init__(self, *, spec: JobSpec, model: ModelCode, events: Events) -> None:
        self.spec = spec
        self.model = model
        self.events = events
        self.tags = model.tags
        score = model.function("score")
        if score is None:
            raise JobError("the model has no score function (tag '# modelop.score')")
        self.score = score
        self.counts = Counts(bytes_total=sum(os.path.getsize(i.path) for i in spec.inputs))
        self.bytes_done = 0  # bytes of the inputs already finished
        self.input_check = (
            SchemaCheck(path=spec.input_schema, label="input") if spec.check_input_schema else None
        )
        output_check = (
            SchemaCheck(path=spec.output_schema, label="output")
            if spec.check_output_schema
            else None
        )
        self.rejects = Rejects(spec.rejects_path)
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

    def run(self) -> Counts:
        if self.tags.batch:
            self._each_input(self._batch)
        elif self.tags.recordsets_in:
            self._recordsets()
        else:
            self._each_input(lambda r: self._all_at_once(r) if r.whole else self._per_record(r))
        self.output.writer.close()
        self.rejects.close()
        return self.counts

    # --- Modes ------------------------------------------------------------------------------

    def _each_input(self, run_one) -> None:
        for item in self.spec.inputs:
            reader = reader_open(item)  # one at a time: a JSON array is held whole
            run_one(reader)
            self._input_finished(reader)

    def _per_record(self, reader: Reader) -> None:
        score, check, counts, events, out = (
            self.score,
            self.input_check,
            self.counts,
            self.events,
            [],
        )
        clock = time.monotonic  # looked at after every record: a slow model still reports
        suffix = self._in(reader)
        number = 0
        for records in reader.records(self.spec.chunk_rows):
            for done, record in enumerate(records):
                number += 1
                counts.records_read += 1
                if check is not None and (reason := check.reason(record)) is not None:
                    self._reject_input(reader, number, reason, record)
                    continue
                try:
                    result = score(record)
                    if result is not None:
                        if type(result) is types.GeneratorType or isinstance(result, Iterator):
                            out.extend(result)
                        else:
                            out.append(result)
                except (Exception, SystemExit) as exc:
                    raise self._score_failed(exc, f"on input record {number}{suffix}") from exc
                if clock() >= events.next_progress:
                    self.output.emit(out)
                    out = []
                    self._progress(reader, reader.position(done + 1, len(records)))
            self.output.emit(out)
            out = []
            self._progress(reader)

    def _all_at_once(self, reader: Reader) -> None:
        records = self._checked_records(reader, reader.value)
        self.counts.records_read += len(reader.value)
        self._progress(reader)
        if records:
            self.output.emit(
                self._call(records, f"on the array of {len(records)} records in '{reader.name}'")
            )

    def _recordsets(self) -> None:
        frames = []
        for item in self.spec.inputs:
            reader = reader_open(item)
            number = 0
            for frame in reader.frames(self.spec.chunk_rows):
                self.counts.records_read += len(frame)
                frames.append(self._checked_frame(reader, frame, number))
                number += len(frame)
                self._progress(reader)
            self._input_finished(reader)
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if len(frame):
            self.output.emit(self._call(frame, f"on all {len(frame)} input records"))

    def _batch(self, reader: Reader) -> None:
        number, suffix = 0, self._in(reader)
        for frame in reader.frames(self.spec.chunk_rows):
            self.counts.records_read += len(frame)
            checked = self._checked_frame(reader, frame, number)
            where = f"on input records {number + 1}–{number + len(frame)}{suffix}"
            number += len(frame)
            if len(checked):
                self.output.emit(self._call(checked, where))
            self._progress(reader)

    # --- Helpers ----------------------------------------------------------------------------

    def _call(self, argument: Any, where: str) -> list[Any]:
        try:
            result = self.score(argument)
            if result is None:
                return []
            if isinstance(result, Iterator):
                return list(result)
            return [result]
        except (Exception, SystemExit) as exc:
            raise self._score_failed(exc, where) from exc

    def _score_failed(self, exc: BaseException, where: str) -> JobError:
        log_traceback(exc)
        return JobError(
            f"score function '{self.model.name('score')}' raised {describe(exc)} {where}"
        )

    def _checked_records(self, reader: Reader, records: list[Any]) -> list[Any]:
        if self.input_check is None:
            return records
        kept = []
        for number, record in enumerate(records, start=1):
            if (reason := self.input_check.reason(record)) is None:
                kept.append(record)
            else:
                self._reject_input(reader, number, reason, record)
        return kept

    def _checked_frame(self, reader: Reader, frame: pd.DataFrame, before: int) -> pd.DataFrame:
        """FRAME without its rows that fail the input schema; BEFORE rows came earlier."""
        if self.input_check is None or not len(frame):
            return frame
        keep = []
        for i, record in enumerate(frame.to_dict("records")):
            if (reason := self.input_check.reason(record)) is None:
                keep.append(i)
            else:
                self._reject_input(reader, before + i + 1, reason, record)
        return frame if len(keep) == len(frame) else frame.iloc[keep]

    def _reject_input(self, reader: Reader, number: int, reason: str, record: Any) -> None:
        self.rejects.add(
            direction="input", asset=reader.name, record=number, reason=reason, data=record
        )
        self.counts.records_rejected += 1

    def _in(self, reader: Reader) -> str:
        return f" of '{reader.name}'" if self.several_inputs else ""

    def _progress(self, reader: Reader, position: int | None = None) -> None:
        self.counts.bytes_read = self.bytes_done + (
            reader.bytes_read if position is None else position
        )
        self.events.progress(self.counts)

    def _input_finished(self, reader: Reader) -> None:
        self.bytes_done += reader.size
        self.counts.bytes_read = self.bytes_done
