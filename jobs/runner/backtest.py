"""A back-test: labeled data without scores is scored by the model first, and each record's
output is paired with the record (its label and protected columns beside its score). Used by
metrics jobs on every runtime: in the model process (metrics.py), and on a Spark runtime's
Python workers, which import this light module rather than the evaluator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from jobs.runner.errors import JobError
from jobs.runner.modelcode import ModelCode, describe, log_traceback


def score_outputs(model: ModelCode, rows: pd.DataFrame, during: str) -> list[Any]:
    """The score function's outputs for ROWS: one DataFrame call in batch or recordsets
    mode, else one call per record."""
    score, tags, name = model.function("score"), model.tags, model.name("score")
    outputs: list[Any] = []
    try:
        arguments = [rows] if tags.batch or tags.recordsets_in else rows.to_dict("records")
        for argument in arguments:
            result = score(argument)
            if isinstance(result, Iterator):
                outputs.extend(result)
            elif result is not None:
                outputs.append(result)
    except (Exception, SystemExit) as exc:
        log_traceback(exc)
        raise JobError(f"score function '{name}' raised {describe(exc)} {during}") from exc
    return outputs


def scores_paired(model: ModelCode, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The score function's output for FRAME, one row per record, with FRAME's index; a
    JobError when it gives another number of records (scores cannot be paired with labels)."""
    scored = outputs_frame(score_outputs(model, frame, "while scoring the labeled data"))
    if len(scored) != len(frame):
        raise JobError(
            f"the built-in evaluator cannot pair scores with labels {where}: the score "
            f"function '{model.name('score')}' gave {len(scored)} records for {len(frame)}"
        )
    scored.index = frame.index
    return scored


def outputs_frame(outputs: list[Any]) -> pd.DataFrame:
    frames, records = [], []
    for value in outputs:
        if isinstance(value, pd.DataFrame):
            frames.append(value)
        elif isinstance(value, list):
            records.extend(value)
        elif isinstance(value, dict):
            records.append(value)
    if records:
        frames.append(pd.DataFrame.from_records(records))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
