"""Metrics jobs, as ModelOp Center runs them: the metrics function gets all labeled records of
one input asset as ONE DataFrame (so memory grows with the input: that is the contract) and
yields or returns one or more dicts. Several input assets: one call per asset.

The built-in evaluator (jobs.runner.evaluation) runs when the model has no metrics function, or beside
it when the job parameters say {"evaluator": true}; the model's own keys win on a clash.

The dicts go to the supervisor in a "metrics" event (stored in Job.metrics) and to the output
asset, one per record.

On a Spark runtime the inputs are read, and scored where the evaluator needs scores, by the
executors (jobs/spark/metrics.py): MetricsOfFrames then evaluates the frames they give back.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.runner.backtest import outputs_frame, score_outputs, scores_paired
from jobs.runner.errors import JobError
from jobs.runner.evaluation import (
    EvaluationError,
    Roles,
    evaluate,
    roles_from_schema,
    roles_with_params,
)
from jobs.runner.evaluation.drift import data_drift, drift_features, thresholds_of
from jobs.runner.evaluation.shapley import SHAP_ROWS, SHAP_SECONDS
from jobs.runner.evaluation.values import native
from jobs.runner.events import Counts, Events
from jobs.runner.modelcode import ModelCode, describe, log_traceback
from jobs.runner.readers import Reader, reader_open
from jobs.runner.rejects import RejectLimits, Rejects
from jobs.runner.schemas import SchemaCheck
from jobs.runner.scoring import frames_checked
from jobs.runner.spec import JobSpec
from jobs.runner.writers import writer_open


class _NoPrediction(Exception):
    """The score function's output has no score column: no permutation importance."""


class MetricsRun:
    def __init__(self, *, spec: JobSpec, model: ModelCode, events: Events) -> None:
        self.spec = spec
        self.model = model
        self.events = events
        self.params = spec.job.get("jobParameters") or {}
        self.metrics = model.function("metrics")
        self.evaluator = self.metrics is None or bool(self.params.get("evaluator"))
        self.roles = self._roles() if self.evaluator else Roles()
        self.counts = Counts(
            bytes_total=sum(os.path.getsize(i.path) for i in spec.inputs if i.path)
        )
        self.input_check = (
            SchemaCheck(path=spec.input_schema, label="input") if spec.check_input_schema else None
        )
        self.rejects = Rejects(spec.rejects_path, self.counts, RejectLimits.of(spec))
        self.several_inputs = len(spec.inputs) > 1
        # metrics(df_baseline, df_sample, ...): called once, one DataFrame per input in order
        # (ModelOp's drift monitors); metrics(df): once per input.
        self.all_at_once = False
        if self.metrics is not None:
            required, most = _positional(self.metrics)
            self.all_at_once = most is None or most >= 2
            if self.all_at_once and len(spec.inputs) < required:
                raise JobError(
                    f"metrics function '{model.name('metrics')}' takes {required} inputs "
                    f"(one DataFrame each, e.g. a baseline and a sample); the job has "
                    f"{len(spec.inputs)}"
                )

    def run(self) -> Counts:
        results: list[dict] = []
        drift_frames: list[pd.DataFrame] = []  # the baseline and the sample, for data drift
        frames, names = [], []
        for name, frame in self._inputs():
            self.events.progress(self.counts, force=True)
            if self.all_at_once:
                frames.append(frame)
                names.append(name)
            if self.evaluator and len(drift_frames) < 2:
                drift_frames.append(frame)
                sample_at = len(results)
            results.extend(self._results(frame, name))
        if self.all_at_once:
            where = f"on its {len(frames)} inputs ({', '.join(repr(n) for n in names)})"
            own = self._call_metrics(frames, where)
            if own and results:
                results = [{**results[0], **own[0]}, *own[1:], *results[1:]]
            else:
                results = own or results
        if len(drift_frames) == 2:
            results = self._with_drift(results, sample_at, *drift_frames)
        self.rejects.finish()
        writer = writer_open(
            path=self.spec.output_path, name=self.spec.output_name, format=self.spec.output_format
        )
        writer.write_values(results)
        writer.close()
        self.counts.records_written = len(results)
        self.events.metrics(results)
        return self.counts

    def _results(self, frame: pd.DataFrame, name: str) -> list[dict]:
        where = f"on the {len(frame)} records of '{name}'"
        calls = self.metrics is not None and not self.all_at_once
        own = self._call_metrics([frame], where) if calls else []
        if not self.evaluator:
            return own
        if self.several_inputs and (not self.roles.label or self.roles.label not in frame):
            print(f"no performance metrics {where}: it has no label column", file=sys.stderr)
            return own
        frame, roles = self._with_scores(frame, where)
        try:
            try:
                evaluated = evaluate(
                    frame, roles, predict=self._predict(roles.score), explain=self._predict,
                    shap_rows=_number(self.params.get("shap_rows"), SHAP_ROWS, int),
                    shap_seconds=_number(self.params.get("shap_seconds"), SHAP_SECONDS, float),
                )  # fmt: skip
            except _NoPrediction:
                print(
                    f"no permutation importance: the score function does not give one "
                    f"'{roles.score}' per record",
                    file=sys.stderr,
                )
                evaluated = evaluate(frame, roles)
        except EvaluationError as exc:
            raise JobError(f"the built-in evaluator failed {where}: {exc}") from exc
        if not own:
            return [evaluated]
        return [{**evaluated, **own[0]}, *own[1:]]

    def _with_drift(
        self, results: list[dict], sample_at: int, baseline: pd.DataFrame, sample: pd.DataFrame
    ) -> list[dict]:
        """The data drift of the sample (the second input) from the baseline (the first), in
        the sample's first result."""
        roles = self.roles
        if isinstance(self.params.get("drift_columns"), list):
            features = [str(c) for c in self.params["drift_columns"]]
        elif roles.predictors:
            features = roles.predictors
        else:
            exclude = {roles.label, roles.score, roles.probability, roles.weight}
            features = drift_features(
                baseline, sample, exclude=exclude | set(roles.class_probabilities.values())
            )
        drift = data_drift(
            baseline, sample, features=features, thresholds=thresholds_of(self.params)
        )
        print(
            f"data drift of '{self.spec.inputs[1].name}' from '{self.spec.inputs[0].name}': "
            f"{drift['data_drift_count']} of {len(drift['data_drift'][-1]['values'])} "
            f"features drift",
            file=sys.stderr,
        )
        if sample_at < len(results):
            results[sample_at] = {**drift, **results[sample_at]}
            return results
        return [*results, drift]

    def _call_metrics(self, frames: list[pd.DataFrame], where: str) -> list[dict]:
        name = self.model.name("metrics")
        try:
            result = self.metrics(*frames)
            if isinstance(result, Iterator):
                result = list(result)
            elif result is None:
                result = []
            elif not isinstance(result, list):
                result = [result]
        except (Exception, SystemExit) as exc:
            log_traceback(exc)
            raise JobError(f"metrics function '{name}' raised {describe(exc)} {where}") from exc
        for value in result:
            if not isinstance(value, dict):
                raise JobError(
                    f"metrics function '{name}' produced a {type(value).__name__} {where}; "
                    f"it must yield or return dicts"
                )
        return [native(value) for value in result]

    # --- Reading ----------------------------------------------------------------------------

    def _inputs(self) -> Iterable[tuple[str, pd.DataFrame]]:
        """Each input asset's name and all its records as one DataFrame."""
        for item in self.spec.inputs:
            reader = reader_open(item)
            yield reader.name, self._frame(reader)

    def _frame(self, reader: Reader) -> pd.DataFrame:
        frames = list(
            frames_checked(
                reader, chunk_rows=self.spec.chunk_rows, check=self.input_check,
                chunk_bytes=self.spec.chunk_bytes,
                rejects=self.rejects, counts=self.counts, events=self.events,
                bytes_before=self.counts.bytes_read,
            )
        )  # fmt: skip
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _roles(self) -> Roles:
        return metrics_roles(self.spec)

    # --- A back-test: labeled data without scores is scored by the model first -------------

    def _with_scores(self, frame: pd.DataFrame, where: str) -> tuple[pd.DataFrame, Roles]:
        roles = self.roles
        if (roles.score and roles.score in frame.columns) or not len(frame):
            return frame, roles
        scored = self._scores(frame, where)
        if scored is None:
            return frame, roles
        for column in frame.columns:  # keep the label and protected columns beside the scores
            if column not in scored.columns:
                scored[column] = frame[column]
        output = roles_from_schema(_schema(self.spec.output_schema, "output"))
        roles = replace(
            roles,
            score=roles.score if roles.score in scored.columns else output.score,
            probability=roles.probability or output.probability,
        )
        print(
            f"the input has no score column: scored it with '{self.model.name('score')}' "
            f"first (score: '{roles.score}', probability: '{roles.probability or '-'}')",
            file=sys.stderr,
        )
        return scored, roles

    def _scores(self, frame: pd.DataFrame, where: str) -> pd.DataFrame | None:
        """The score function's output for FRAME, one row per record; None without one."""
        if self.model.function("score") is None:
            return None
        return scores_paired(self.model, frame, where)

    # --- Permutation importance through the model's score function -------------------------

    def _predict(self, column: str):
        if self.model.function("score") is None or self.params.get("interpretability") is False:
            return None

        def predict(rows: pd.DataFrame) -> pd.Series:
            frame = outputs_frame(
                score_outputs(self.model, rows, "while computing permutation importance")
            )
            if column not in frame.columns or len(frame) != len(rows):
                raise _NoPrediction
            return frame[column]

        return predict


class MetricsOfFrames(MetricsRun):
    """A metrics job whose inputs were read, and scored where the evaluator needs scores,
    elsewhere (a Spark runtime's executors). INPUTS yields, per input asset, its name, its
    records (the columns the evaluator or the metrics function reads) and the score
    function's output for them (None: not scored); COUNTS, what was read and rejected so far.
    With EXPLAINS false the score function is not called here (no permutation importance or
    SHAP values)."""

    def __init__(
        self,
        *,
        spec: JobSpec,
        model: ModelCode,
        events: Events,
        inputs: Iterable[tuple[str, pd.DataFrame, pd.DataFrame | None]],
        counts: Counts,
        explains: bool = True,
    ) -> None:
        super().__init__(spec=spec, model=model, events=events)
        self.given = inputs
        self.counts = counts
        self.rejects = Rejects(spec.rejects_path, counts, RejectLimits.of(spec))
        self.explains = explains
        self.outputs: pd.DataFrame | None = None

    def _inputs(self) -> Iterable[tuple[str, pd.DataFrame]]:
        for name, frame, outputs in self.given:
            self.outputs = outputs
            yield name, frame

    def _scores(self, frame: pd.DataFrame, where: str) -> pd.DataFrame | None:
        if self.outputs is None:
            return None
        if len(self.outputs) != len(frame):  # the executors paired them: a bug if not
            raise JobError(f"{len(self.outputs)} scores came back for {len(frame)} records")
        self.outputs.index = frame.index
        return self.outputs

    def _predict(self, column: str):
        return super()._predict(column) if self.explains else None


def metrics_roles(spec: JobSpec) -> Roles:
    """The column roles the built-in evaluator reads: the input schema's, the job's
    parameters winning."""
    schema = _schema(spec.input_schema, "input")
    return roles_with_params(roles_from_schema(schema), spec.job.get("jobParameters") or {})


def _schema(path: str, side: str) -> dict | None:
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise JobError(f"the {side} schema '{path}' cannot be read: {exc}") from exc


def _positional(function) -> tuple[int, int | None]:
    """How many positional arguments FUNCTION needs, and takes at most (None: *args)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return 1, 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in parameters if p.kind in kinds]
    required = sum(p.default is inspect.Parameter.empty for p in positional)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return max(required, 1), None
    return required, len(positional)


def _number(value: Any, default: Any, kind: type) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return kind(value)
    return default
