"""A metrics job of a pandas model on Spark. The executors read each input and, where the
built-in evaluator needs scores (labeled data without a score column), run the score function
on it as a scoring job's executors do (mapInPandas, per record or per batch), passing on the
input columns the evaluation reads beside the scores (executor.metrics_scorer); Spark writes
them as Parquet part files in the work dir. The driver then ends the session and its JVM,
reads the part files back with pyarrow (only those columns, one input at a time) and runs the
process runtime's metrics job on them (jobs/runner/metrics.py): the built-in evaluator, or the
model's own metrics function with all records of one input as one DataFrame, as on every
runtime. Model code runs in the driver only then, and only where the evaluation calls it (a
metrics function; the score function for permutation importance and SHAP values)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.runner.errors import JobError
from jobs.runner.events import Counts, Events
from jobs.runner.modelcode import ModelCode
from jobs.runner.rejects import RejectLimits, Rejects
from jobs.runner.smarttags import SmartTags
from jobs.runner.spec import InputFile, JobSpec
from jobs.spark.contract import function_parameters, is_pyspark
from jobs.spark.driver import (
    output_schema,
    rejects_add,
    rejects_of,
    spark_failures,
    spark_running,
)
from jobs.spark.executor import (
    BLOCK_COLUMN,
    CORRUPT_COLUMN,
    FILE_COLUMN,
    LAYOUT_COLUMN,
    NULLS_COLUMN,
    OUTPUT_PREFIX,
)
from jobs.spark.outputs import parts_of, parts_written
from jobs.spark.progress import Progress
from jobs.spark.session import session_end
from jobs.spark.sources import RecordNumbers, inputs_read

if TYPE_CHECKING:  # the evaluator is imported when it runs, as child.py orders it
    from jobs.runner.evaluation import Roles

METRICS_FOLDER = "spark-metrics"  # beside the staged output: each input's Parquet part files
_OURS = (FILE_COLUMN, BLOCK_COLUMN, CORRUPT_COLUMN, LAYOUT_COLUMN, NULLS_COLUMN)


@dataclass
class _Needs:
    """What the evaluation reads of each input, known from the job and the model's source
    before any model code runs (the decisions of MetricsRun, made ahead)."""

    evaluator: bool
    roles: Roles
    own: bool  # the model's own metrics function: it gets every column
    score: str  # the score function's name ("": none)
    pyspark_score: bool  # ModelOp's PySpark contract: it cannot score a batch
    explains: bool  # permutation importance and SHAP call the score function on the records
    several: bool  # several inputs: an unlabeled one is not evaluated; the first two drift

    def labeled(self, columns: list[str]) -> bool:
        label = self.roles.label
        return self.evaluator and (not self.several or bool(label and label in columns))

    def scores(self, columns: list[str]) -> bool:
        """The evaluator scores this input first: it is evaluated and has no score column."""
        score = self.roles.score
        return self.labeled(columns) and bool(self.score) and not (score and score in columns)

    def keep(self, columns: list[str], index: int) -> list[str]:
        """The input columns the evaluation reads: all of them for a metrics function, for
        data drift (the first two inputs) and for the score function (permutation importance
        calls it on whole records), else the columns with a role."""
        drift = self.evaluator and self.several and index < 2
        if self.own or drift or (self.labeled(columns) and self.explains):
            return columns
        roles = self.roles
        wanted = {roles.label, roles.score, roles.probability, roles.weight,
                  *roles.class_probabilities.values(), *roles.protected, *roles.predictors}  # fmt: skip
        kept = [c for c in columns if c in wanted] if self.labeled(columns) else []
        return kept or columns[:1]  # Spark writes no file of no columns


def _needs(spec: JobSpec, tags: SmartTags) -> _Needs:
    from jobs.runner.evaluation import Roles
    from jobs.runner.metrics import metrics_roles

    params = spec.job.get("jobParameters") or {}
    own = bool(tags.functions.get("metrics"))
    evaluator = not own or bool(params.get("evaluator"))
    roles = metrics_roles(spec) if evaluator else Roles()
    score = tags.functions.get("score") or ""
    source = Path(spec.source).read_text(encoding="utf-8")
    pyspark_score = bool(score) and is_pyspark(function_parameters(source, score))
    explains = (
        bool(score) and not pyspark_score and params.get("interpretability") is not False
        and bool(roles.predictors)
    )  # fmt: skip
    return _Needs(evaluator=evaluator, roles=roles, own=own, score=score,
                  pyspark_score=pyspark_score, explains=explains,
                  several=len(spec.inputs) > 1)  # fmt: skip


@dataclass
class _Scored:
    """One input as the executors gave it back."""

    name: str
    folder: Path
    columns: list[str]  # its own columns kept
    outputs: list[str] = field(default_factory=list)  # the score function's, when scored


def spark_metrics(
    spark, spec: JobSpec, tags: SmartTags, *, setup: dict, events: Events, secrets: dict
) -> Counts:
    from jobs.runner.metrics import MetricsOfFrames

    needs = _needs(spec, tags)
    sc = spark.sparkContext
    counts = Counts(bytes_total=sum(os.path.getsize(i.path) for i in spec.inputs if i.path))
    shared = {k: sc.accumulator(0) for k in ("read", "written", "rejected")}
    rejects = Rejects(spec.rejects_path, counts, RejectLimits.of(spec))
    progress = Progress(sc=sc, events=events, counts=counts, accumulators=shared)
    scored: list[_Scored] = []
    try:
        with spark_running(progress):
            for index, item in enumerate(spec.inputs):
                scored.append(_input_scored(spark, spec, item, index, needs=needs, setup=setup,
                                            shared=shared, rejects=rejects, secrets=secrets))  # fmt: skip
    finally:
        rejects.close()
    counts.bytes_read = counts.bytes_total
    # Model code may run here from now on: without the session, its JVM or the secrets.
    session_end(spark)
    secrets.clear()
    print("Spark: application ended; evaluating on the driver", flush=True)
    model = _model(spec, tags, needs)
    run = MetricsOfFrames(spec=spec, model=model, events=events, inputs=_read_back(scored),
                          counts=counts, explains=needs.explains)  # fmt: skip
    return run.run()


def _input_scored(
    spark, spec: JobSpec, item: InputFile, index: int, *, needs: _Needs, setup: dict,
    shared: dict, rejects: Rejects, secrets: dict,
) -> _Scored:  # fmt: skip
    """One input read and, where the evaluator needs it, scored by the executors, written as
    Parquet part files; its rejects (records that cannot be decoded) added to REJECTS."""
    from pyspark.sql.types import StructField, StructType

    from jobs.spark.executor import BlocksParam, RejectsParam, metrics_scorer

    sc = spark.sparkContext
    with spark_failures(f"Spark could not read the input '{item.name}'"):
        frame, setup["layouts"] = inputs_read(
            spark, [item], secrets, input_schema=spec.input_schema
        )
    columns = [c for c in frame.columns if c not in _OURS]
    keep = needs.keep(columns, index)
    fields = [f for f in frame.schema.fields if f.name in keep]
    outputs = []
    if needs.scores(columns):
        if needs.pyspark_score:
            raise JobError(
                f"the built-in evaluator cannot score '{item.name}' on Spark: score function "
                f"'{needs.score}' follows the PySpark contract (external_inputs, "
                "external_outputs, external_model_assets), which scores a whole input, not the "
                "records beside their labels; give the input a score column, or the model a "
                "PySpark metrics function"
            )
        if not setup["columns"]:  # learned once, for every input
            setup["output_fields"] = output_schema(spark, spec, frame, setup).fields
            setup["columns"] = [f.name for f in setup["output_fields"]]
        outputs = list(setup["columns"])
        fields += [StructField(OUTPUT_PREFIX + f.name, f.dataType, True)
                   for f in setup["output_fields"]]  # fmt: skip
    accumulators = {**shared, "overflow": sc.accumulator(0),
                    "blocks": sc.accumulator({}, BlocksParam()),
                    "rejects": sc.accumulator({}, RejectsParam())}  # fmt: skip
    job = {k: v for k, v in setup.items() if k != "output_fields"}
    job.update(keep=keep, score=bool(outputs), input=item.name)
    folder = Path(spec.output_path).parent / METRICS_FOLDER / str(index)
    before = shared["written"].value
    frame.mapInPandas(metrics_scorer(job, accumulators), StructType(fields)).write.mode(
        "overwrite"
    ).parquet(str(folder))
    parts_written(folder, fmt="parquet", header=False, written=shared["written"].value - before,
                  what=f"the records of '{item.name}' the executors gave")  # fmt: skip
    what = f"'{item.name}'" + (" read and scored" if outputs else " read")
    print(f"Spark: {what}, {len(keep)} of its {len(columns)} columns kept", flush=True)
    rejects_add(rejects, rejects_of(frame, job, accumulators),
                RecordNumbers([item], accumulators["blocks"].value))  # fmt: skip
    return _Scored(name=item.name, folder=folder, columns=keep, outputs=outputs)


def _read_back(scored: list[_Scored]):
    """Per input, in order: its name, its records and the score function's output for them
    (None: not scored), read from its part files (in partition order: the input's order)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    for item in scored:
        prefixed = [OUTPUT_PREFIX + c for c in item.outputs]
        parts = parts_of(item.folder, what=f"the records of '{item.name}' the executors gave")
        tables = [pq.read_table(p, columns=item.columns + prefixed) for p in parts]
        if not tables:
            yield item.name, pd.DataFrame(columns=item.columns), None
            continue
        table = pa.concat_tables(tables)
        del tables
        frame = table.select(item.columns).to_pandas()
        outputs = None
        if item.outputs:
            outputs = table.select(prefixed).rename_columns(item.outputs).to_pandas()
        del table
        yield item.name, frame, outputs


class _Unloaded:
    """The model, not loaded: the evaluation calls none of its code (no metrics function, no
    score function to explain), so none of it runs in the driver."""

    def __init__(self, tags: SmartTags) -> None:
        self.tags = tags

    def function(self, kind: str):
        return None

    def name(self, kind: str) -> str:
        return self.tags.functions.get(kind, kind)


def _model(spec: JobSpec, tags: SmartTags, needs: _Needs):
    if not (needs.own or needs.explains):
        return _Unloaded(tags)
    model = ModelCode(source=spec.source, tags=tags)
    model.load()
    model.init(spec.job)
    return model
