"""The pandas contract on Spark's Python workers: the model is loaded and its init run once
per Python worker; score is called per record, or per Arrow batch in batch mode, inside
mapInPandas. Each output frame has the output columns only, so the job's output is written in
one pass. A reject (a record that cannot be decoded, a score that raised, an output that cannot
be encoded) is JSON, the same entry the process runtime writes to rejects.jsonl, sent to the
driver in an accumulator (RejectsParam), up to REJECTS_PER_TASK of them per task; a task with
more counts the rest in the "overflow" accumulator, and the driver then gathers every reject
in a second pass (rejects_scorer), which a mostly good input never needs.

A metrics job's executors (metrics_scorer) pass on the input columns the driver's evaluator
or metrics function reads and, where the evaluator needs scores, the score function's output
paired with each record, as the process runtime scores labeled data (jobs/runner/backtest.py);
the driver evaluates them (jobs/spark/metrics.py)."""

from __future__ import annotations

import csv
import os
import re
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd

REJECT_COLUMN = "_moc_reject"  # the one column of rejects_scorer's rows
REJECTS_PER_TASK = 2000  # rejects a task sends in the accumulator; more: a second pass
CORRUPT_COLUMN = "_corrupt_record"  # Spark's column for an input line it cannot parse
FILE_COLUMN = "_moc_file"  # the input file a row came from (input_file_name())
BLOCK_COLUMN = "_moc_block"  # the start of its split in that file (input_file_block_start())
OUTPUT_PREFIX = "_moc_out_"  # a metrics job's score output columns, beside the input's own
# A CSV row's layout (its index in setup["layouts"]: schemas.py), and for a row Spark could not
# read whole, the positions of the columns it read as null ("0,3").
LAYOUT_COLUMN = "_moc_layout"
NULLS_COLUMN = "_moc_nulls"

FILES_FROM_SPARK = "@sparkfiles"
_FATAL = (SystemExit, MemoryError)
_state: dict = {}  # per Python worker: the loaded model, by job


class _Model:
    def __init__(self, setup: dict) -> None:
        from jobs.runner.modelcode import ModelCode
        from jobs.runner.smarttags import SmartTags

        folder = setup.get("files_dir") or ""
        if folder == FILES_FROM_SPARK:  # a cluster: the driver shipped them with addFile
            from pyspark import SparkFiles

            folder = SparkFiles.getRootDirectory()
        if folder and os.path.isdir(folder) and os.getcwd() != folder:
            os.chdir(folder)  # attachments (pickles) are opened relative to the work dir
        self.code = ModelCode(source=setup["source"], tags=SmartTags.from_dict(setup["tags"]))
        self.code.load()
        self.code.init(setup["job"])
        self.score = self.code.function("score")
        self.batch = bool(setup["tags"].get("batch"))
        self.columns = list(setup["columns"])
        self.layouts = list(setup.get("layouts") or [])

    def reason(self, exc: BaseException, where: str) -> str:
        from jobs.runner.modelcode import describe

        return f"score function '{self.code.name('score')}' raised {describe(exc)} {where}"


def model_for(setup: dict) -> _Model:
    key = setup["job_id"]
    if key not in _state:
        _state[key] = _Model(setup)
    return _state[key]


def _results(value: Any) -> list[Any]:
    if value is None:
        return []
    if type(value) is types.GeneratorType or isinstance(value, Iterator):
        return list(value)
    return [value]


def _reject(direction: str, reason: str, data: Any, at: list | None = None) -> str:
    """A reject as JSON; AT: [file, split start, index in split] of its input record."""
    from jobs.runner.writers import json_line

    entry: dict[str, Any] = {"direction": direction, "reason": reason}
    if at is not None:
        entry["at"] = at
    try:
        return json_line({**entry, "data": data}).decode().rstrip("\n")
    except TypeError:
        return json_line({**entry, "data": repr(data)}).decode().rstrip("\n")


def score_frame(
    model: _Model, frame: pd.DataFrame, where: Places | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The output rows of one input batch and its rejects (as JSON). WHERE: where each input
    row is in its input."""
    from jobs.runner.scoring import non_finite

    frame, where, rejects = decoded(frame, where if where is not None else Places(), model.layouts)
    outputs: list[Any] = []
    if model.batch:
        if len(frame):
            try:
                outputs = _results(model.score(frame))
            except _FATAL:
                raise
            except Exception as exc:
                reason = model.reason(exc, f"on a batch of {len(frame)} records")
                _log(exc)
                rejects.extend(
                    _reject("input", reason, r, where.at(i))
                    for i, r in enumerate(frame.to_dict("records"))
                )
    else:
        for i, record in enumerate(frame.to_dict("records")):
            try:
                outputs.extend(_results(model.score(record)))
            except _FATAL:
                raise
            except Exception as exc:
                _log(exc)
                rejects.append(
                    _reject("input", model.reason(exc, "on this record"), record, where.at(i))
                )
    rows: list[dict] = []
    frames: list[pd.DataFrame] = []
    for value in outputs:
        if isinstance(value, pd.DataFrame):
            frames.append(value)
        elif isinstance(value, list):
            rows.extend(value)
        else:
            rows.append(value)
    good: list[dict] = []
    for value in rows:
        if not isinstance(value, dict):
            rejects.append(_reject("output", "is not a record (a dict)", value))
            continue
        if (where := non_finite(value)) is not None:
            rejects.append(_reject("output", f"cannot be encoded as JSON: {where}", value))
            continue
        good.append(value)
    if good:
        frames.append(pd.DataFrame(good))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if model.columns:  # empty while the driver scores a sample to learn them
        out = out.reindex(columns=model.columns)
    return out, rejects


def decoded(
    frame: pd.DataFrame, where: Places, layouts: list[dict]
) -> tuple[pd.DataFrame, Places, list[str]]:
    """FRAME without the rows Spark could not read whole (their text in CORRUPT_COLUMN), where
    its rows are, and those rows as rejects; but a CSV row that only lacks trailing fields is
    kept, those values null. LAYOUTS: the CSV files' (setup["layouts"], schemas.py)."""
    rejects: list[str] = []
    if CORRUPT_COLUMN not in frame.columns:
        return frame, where, rejects
    texts = frame[CORRUPT_COLUMN]
    bad = texts.notna().to_numpy(copy=True)
    marks = [c for c in (CORRUPT_COLUMN, LAYOUT_COLUMN, NULLS_COLUMN) if c in frame.columns]
    if not bad.any():  # the usual batch: nothing to take out, nothing copied
        return frame.drop(columns=marks), where, rejects
    layout_of = frame[LAYOUT_COLUMN] if LAYOUT_COLUMN in frame.columns else None
    kept: list[tuple[int, list[str]]] = []
    for i in np.flatnonzero(bad):
        reason = "cannot be decoded as a record"
        if layout_of is not None and pd.notna(layout_of.iat[i]):
            layout = layouts[int(layout_of.iat[i])]
            nulls = frame[NULLS_COLUMN].iat[i] or ""
            reason = csv_misfit(texts.iat[i], nulls, layout)
            if reason is None:
                bad[i] = False
                columns = layout["columns"]
                kept.append((i, [columns[int(n)][0] for n in nulls.split(",") if n]))
                continue
        rejects.append(_reject("input", reason, texts.iat[i], where.at(i)))
    for i, names in kept:  # Spark filled their integers and booleans in: null again
        for name in names:
            if frame[name].dtype.kind == "b":
                frame[name] = frame[name].astype(object)
            elif frame[name].dtype.kind in "iu":  # as Arrow gives a column with a null
                frame[name] = frame[name].astype("float64")
            frame.loc[i, name] = None
    where = where.subset(~bad)
    return frame.loc[~bad].drop(columns=marks).reset_index(drop=True), where, rejects


def csv_misfit(text: str, nulls: str, layout: dict) -> str | None:
    """Why the CSV record TEXT, which Spark could not read whole, is a reject, for a person;
    None when nothing of it is lost (it lacks trailing fields only). NULLS: the positions of
    the columns Spark read as null in it; LAYOUT: its file's (schemas.py)."""
    columns = layout["columns"]
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error:
        return "cannot be decoded as a CSV record"
    if len(fields) > len(columns):
        return f"Expected {len(columns)} fields, saw {len(fields)}"
    null = {int(n) for n in nulls.split(",") if n}
    for n, (name, kind, declared) in enumerate(columns):
        if n not in null or n >= len(fields) or fields[n] == "":
            continue
        value, avro = fields[n], _AVRO_NAMES.get(kind, kind)
        if declared:
            return f"field '{name}' is '{value}', expected {avro} (the input schema {layout['schema']})"
        return (
            f"field '{name}' is '{value}', not a {avro} as its values in {layout['sample']} "
            f"were; attach an input schema (.avsc) that gives '{name}' the type "
            f"{_fitting(value)}, and choose it for the job"
        )
    if len(fields) < len(columns):
        return None
    return "cannot be decoded as a CSV record"


_AVRO_NAMES = {"bigint": "long", "int": "int", "double": "double", "float": "float",
               "boolean": "boolean", "string": "string"}  # fmt: skip


def _fitting(value: str) -> str:
    """An Avro type that VALUE fits."""
    if re.fullmatch(r"[+-]?[0-9]{1,18}", value):
        return "long"
    try:
        float(value)
    except ValueError:
        return "string"
    return "double"


class Places:
    """Where each row of a batch is in its input: its file, the start of its split, its index
    in the split (arrays, so a batch costs no Python per row; a reject asks for its own)."""

    def __init__(self, files=None, blocks=None, index=None) -> None:
        self.files, self.blocks, self.index = files, blocks, index

    def at(self, i: int) -> list | None:
        if self.files is None:
            return None
        return [self.files[i], int(self.blocks[i]), int(self.index[i])]

    def subset(self, mask) -> Places:
        if self.files is None:
            return self
        return Places(self.files[mask], self.blocks[mask], self.index[mask])


def places(frame: pd.DataFrame, seen: dict) -> tuple[pd.DataFrame, Places]:
    """FRAME without its FILE_COLUMN and BLOCK_COLUMN, and where its rows are; SEEN: the rows
    of each split so far in this partition (updated)."""
    if FILE_COLUMN not in frame.columns:
        return frame, Places()
    index = np.empty(len(frame), dtype=np.int64)
    for key, positions in frame.groupby([FILE_COLUMN, BLOCK_COLUMN], sort=False).indices.items():
        start = seen.get(key, 0)
        index[positions] = start + np.arange(len(positions))
        seen[key] = start + len(positions)
    where = Places(frame[FILE_COLUMN].to_numpy(), frame[BLOCK_COLUMN].to_numpy(), index)
    return frame.drop(columns=[FILE_COLUMN, BLOCK_COLUMN]), where


class BlocksParam:
    """{(file, split start): rows}, merged by max: a retried task adds its split again. (An
    AccumulatorParam by its methods: pyspark asks no more, and this module needs no pyspark.)"""

    def zero(self, value: dict) -> dict:
        return {}

    def addInPlace(self, value1: dict, value2: dict) -> dict:  # noqa: N802 - pyspark's name
        for key, rows in value2.items():
            value1[key] = max(rows, value1.get(key, 0))
        return value1


def _log(exc: BaseException) -> None:
    from jobs.runner.modelcode import log_traceback

    log_traceback(exc)
    sys.stderr.flush()


class RejectsParam:
    """{key: reject JSON}, merged by union: a retried task sends the same keys again. The key
    orders rejects as their input records are: (file, split start, index) for an input
    record, ("~", partition, batch, n) for an output that is not a record."""

    def zero(self, value: dict) -> dict:
        return {}

    def addInPlace(self, value1: dict, value2: dict) -> dict:  # noqa: N802 - pyspark's name
        value1.update(value2)
        return value1


def _partition() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId() if context is not None else 0


def _reject_key(text: str, partition: int, batch: int, n: int) -> tuple:
    at = orjson.loads(text).get("at")
    return tuple(at) if at else ("~", partition, batch, n)


def _partition_run(batches: Iterator[pd.DataFrame], accumulators: dict, step):
    """The loop over a partition's batches that scoring and metrics share: each batch
    counted and given its records' places, turned by STEP(frame, where) into (output,
    rejects), its rejects kept for the accumulator; the places and rejects sent at the end."""
    partition = _partition()
    seen: dict = {}
    kept: dict = {}
    overflow = 0
    for batch, frame in enumerate(batches):
        accumulators["read"].add(len(frame))
        frame, where = places(frame, seen)
        out, rejects = step(frame, where)
        accumulators["written"].add(len(out))
        overflow += _rejects_keep(rejects, kept, accumulators, partition, batch)
        yield out
    _rejects_send(seen, kept, overflow, accumulators)


def partitions_scorer(setup: dict, accumulators: dict):
    """The function mapInPandas calls once per partition (its batches), on a Python worker."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = model_for(setup)
        yield from _partition_run(
            batches, accumulators, lambda frame, where: score_frame(model, frame, where)
        )

    return run


def metrics_scorer(setup: dict, accumulators: dict):
    """mapInPandas's function for a metrics job: each batch's input columns setup["keep"]
    and, with setup["score"], the score function's output for them (its columns
    setup["columns"], named OUTPUT_PREFIX + name, as an output column may be named as an
    input one), one row per decodable input record. A score that raises, or an output that
    cannot be paired with its records, fails the job, as on the process runtime."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from jobs.runner.backtest import scores_paired

        model = model_for(setup) if setup["score"] else None

        def step(frame: pd.DataFrame, where: Places) -> tuple[pd.DataFrame, list[str]]:
            frame, _, rejects = decoded(frame, where, setup.get("layouts") or [])
            out = frame.reindex(columns=setup["keep"])
            if model is not None:
                at = f"on a batch of {len(frame)} records of '{setup['input']}'"
                scored = scores_paired(model.code, frame, at) if len(frame) else None
                for column in setup["columns"]:
                    values = scored[column] if scored is not None and column in scored else None
                    out[OUTPUT_PREFIX + column] = values
            return out, rejects

        yield from _partition_run(batches, accumulators, step)

    return run


def _rejects_keep(rejects: list[str], kept: dict, accumulators: dict, partition: int,
                  batch: int) -> int:  # fmt: skip
    """Keep a batch's REJECTS for the accumulator, up to REJECTS_PER_TASK; those left over."""
    accumulators["rejected"].add(len(rejects))
    overflow = 0
    for n, text in enumerate(rejects):
        if len(kept) < REJECTS_PER_TASK:
            kept[_reject_key(text, partition, batch, n)] = text
        else:
            overflow += 1
    return overflow


def _rejects_send(seen: dict, kept: dict, overflow: int, accumulators: dict) -> None:
    if seen:
        accumulators["blocks"].add(seen)
    if kept:
        accumulators["rejects"].add(kept)
    if overflow:
        accumulators["overflow"].add(overflow)


def rejects_scorer(setup: dict):
    """mapInPandas's function for the second pass: every reject of a partition as a row of
    REJECT_COLUMN (its sort key first, as JSON), no output."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        metrics = "keep" in setup  # a metrics job's: only input records that cannot be decoded
        model = None if metrics else model_for(setup)
        partition = _partition()
        seen: dict = {}
        for batch, frame in enumerate(batches):
            frame, where = places(frame, seen)
            if metrics:
                _, _, rejects = decoded(frame, where, setup.get("layouts") or [])
            else:
                _, rejects = score_frame(model, frame, where)
            if rejects:
                keys = [_reject_key(t, partition, batch, n) for n, t in enumerate(rejects)]
                yield pd.DataFrame({"key": [orjson.dumps(k).decode() for k in keys],
                                    REJECT_COLUMN: rejects})  # fmt: skip

    return run


def reject_order(key: tuple) -> tuple:
    """A sort key for reject keys of both kinds (input places first, by file and place)."""
    if key and key[0] == "~":
        return (1, "", *key[1:])
    return (0, *key)


def sample_scorer(setup: dict):
    """mapInPandas's function for the sample that gives the output schema: the model's output
    rows of each batch (rejects left out) as one Arrow stream."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        model = _Model(setup)  # not kept: the output's columns are not known yet
        for frame in batches:
            frame, _ = places(frame, {})
            out, _ = score_frame(model, frame)
            table = pa.Table.from_pandas(out, preserve_index=False)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            yield pd.DataFrame({"arrow": [sink.getvalue().to_pybytes()]})

    return run
