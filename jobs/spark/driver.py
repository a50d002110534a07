"""One job on a Spark runtime, run by the sandboxed model process as the Spark driver (client
mode). The model's contract comes from its function's signature (contract.py): ModelOp's
PySpark contract gets the session and the asset lists; a pandas model is distributed with
mapInPandas (executor.py); a metrics job of a pandas model is scored so and evaluated on the
driver (metrics.py). Output is staged as on every runtime; the supervisor commits it."""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from jobs.runner.errors import JobError
from jobs.runner.events import Counts, Events
from jobs.runner.modelcode import ModelCode, describe, log_traceback
from jobs.runner.rejects import RejectLimits, Rejects
from jobs.runner.smarttags import SmartTags
from jobs.runner.spec import JobSpec
from jobs.runner.training import OUTPUT_DIR, artifact_names, fingerprint, manifest_path
from jobs.spark.contract import function_parameters, is_pyspark, spark_refusal
from jobs.spark.executor import FILES_FROM_SPARK
from jobs.spark.outputs import PARTS_FOLDER, parts_join, parts_rows, parts_written, spark_format
from jobs.spark.progress import Progress
from jobs.spark.schemas import avro_ddl
from jobs.spark.session import RUNTIME_ZIP, session_end, session_start
from jobs.spark.sources import RecordNumbers, connectors_check, inputs_read

SPARK_MODEL_SUFFIX = ".sparkmodel.zip"  # a PySpark model folder kept as one attachment
SAMPLE_ROWS = 20  # scored on the driver to learn the output schema when there is no .avsc
_KINDS = {"scoring": "score", "metrics": "metrics", "training": "train"}
_MODELOP_FORMATS = {"jsonl": "JSON", "json": "JSON", "csv": "CSV", "parquet": "PARQUET"}


def spark_run(*, spec: JobSpec, events: Events, secrets: dict) -> Counts:
    tags = SmartTags.from_dict(spec.smart_tags)
    kind = _KINDS.get(spec.job_type, "score")
    name = tags.functions.get(kind)
    if not name and spec.job_type != "metrics":  # a metrics job without: the built-in evaluator
        raise JobError(f"the model has no {kind} function (tag '# modelop.{kind}')")
    source = Path(spec.source).read_text(encoding="utf-8")
    pyspark = bool(name) and is_pyspark(function_parameters(source, name))
    if not pyspark and (refused := spark_refusal(source=source, functions=tags.functions,
                                                  job_type=spec.job_type,
                                                  recordsets=tags.recordsets_in)):  # fmt: skip
        raise JobError(refused)
    tmp = os.environ.get("TMPDIR") or os.path.abspath(".moc/tmp")
    print(f"Spark: starting application {spec.engine.get('app_name')!r} on "
          f"{spec.engine.get('master')!r}", flush=True)  # fmt: skip
    spark = session_start(spec.engine, secrets, tmp=tmp)
    try:
        print(f"Spark: application {spark.sparkContext.applicationId}; UI "
              f"{spark.sparkContext.uiWebUrl or 'off'}", flush=True)  # fmt: skip
        for note in spec.engine.get("data_notes") or []:
            print(f"Spark: {note}", flush=True)
        _unpack_spark_models()
        if pyspark:
            return _pyspark(spark, spec, tags, events)
        return _pandas(spark, spec, tags, events, secrets)
    finally:
        session_end(spark)


def _unpack_spark_models() -> None:
    """A model folder a PySpark training job saved, attached as <name>.sparkmodel.zip, back
    into the folder <name>/ that model.load(path) reads."""
    for archive in Path(".").glob(f"*{SPARK_MODEL_SUFFIX}"):
        folder = Path(archive.name[: -len(SPARK_MODEL_SUFFIX)])
        if not folder.exists():
            with zipfile.ZipFile(archive) as z:
                z.extractall(folder)


def _uri(path: str | Path) -> str:
    return Path(path).resolve().as_uri()


# --- ModelOp's PySpark contract -------------------------------------------------------------


def _pyspark(spark, spec: JobSpec, tags: SmartTags, events: Events) -> Counts:
    kind = _KINDS[spec.job_type]
    model = ModelCode(source=spec.source, tags=tags)
    model.load()
    model.init(spec.job)
    function = model.function(kind)
    counts = Counts()
    roles = {"scoring": "INPUT_DATA", "metrics": "SAMPLE_DATA", "training": "TRAINING_DATA"}
    inputs = [
        {"name": i.name, "fileUrl": i.url or _uri(i.path),
         "fileFormat": _MODELOP_FORMATS.get(i.format),
         "assetType": "EXTERNAL_FILE", "assetRole": roles[spec.job_type]}
        for i in spec.inputs
    ]  # fmt: skip
    if spec.job_type == "training":
        out_dir = Path(OUTPUT_DIR)
        out_dir.mkdir(exist_ok=True)
        target = out_dir / "model"
        out_format = "FOLDER"
    else:
        target = Path(spec.output_path).parent / PARTS_FOLDER
        out_format = _MODELOP_FORMATS.get(spec.output_format, "JSON")
    outputs = [{"name": spec.output_name or target.name, "fileUrl": _uri(target),
                "fileFormat": out_format, "assetType": "EXTERNAL_FILE",
                "assetRole": "OUTPUT_DATA"}]  # fmt: skip
    assets = []
    for entry in sorted(Path(".").iterdir()):
        if entry.name.startswith(".") or entry.name == Path(spec.source).name:
            continue
        if entry.name in (OUTPUT_DIR,) or entry.name.endswith(SPARK_MODEL_SUFFIX):
            continue
        assets.append({"name": entry.name, "fileUrl": _uri(entry), "assetRole": "MODEL_ARTIFACT",
                       "fileFormat": "FOLDER" if entry.is_dir() else entry.suffix[1:].upper()})  # fmt: skip
    connectors_check(spark, spec.inputs)
    progress = Progress(sc=spark.sparkContext, events=events, counts=counts, accumulators={})
    progress.start()
    try:
        function(inputs, outputs, assets)
    except (Exception, SystemExit) as exc:
        log_traceback(exc)
        raise JobError(f"{kind} function '{model.name(kind)}' raised {describe(exc)}") from exc
    finally:
        progress.stop()
    progress.send(running=False)
    if spec.job_type == "training":
        for entry in sorted(Path(OUTPUT_DIR).iterdir()):
            if entry.is_dir():  # model.save(path) writes a folder: kept as one attachment
                archive = Path(OUTPUT_DIR) / f"{entry.name}{SPARK_MODEL_SUFFIX}"
                with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
                    for file in sorted(entry.rglob("*")):
                        if file.is_file():
                            z.write(file, file.relative_to(entry))
                shutil.rmtree(entry)
        names = artifact_names(Path(OUTPUT_DIR), train_name=model.name(kind))
        manifest = {"artifacts": names, "training_data": fingerprint(spec, rows=0)}
        manifest_path(spec).write_text(json.dumps(manifest))
        return counts
    if not target.exists():
        raise JobError(f"the {kind} function wrote no output at {outputs[0]['fileUrl']}")
    if spec.engine.get("output_parts"):  # the folder itself is published (HDFS, S3)
        counts.records_written = parts_rows(
            target, fmt=spec.output_format, header=False, what="the model's Spark output"
        )
        return counts
    counts.records_written = _join(target, spec, columns=[], what="the model's Spark output")
    if spec.job_type == "metrics":
        with open(spec.output_path, "rb") as f:
            events.metrics([json.loads(line) for line in f if line.strip()])
    return counts


def _join(folder: Path, spec: JobSpec, *, columns: list[str], what: str) -> int:
    """The part files of FOLDER as the staged output; the rows written."""
    parts_join(folder, Path(spec.output_path), fmt=spec.output_format, columns=columns, what=what)
    return parts_rows(folder, fmt=spec.output_format, header=False, what=what)


# --- Our pandas contract, distributed -------------------------------------------------------


def _setup(spark, spec: JobSpec, tags: SmartTags) -> dict:
    """The session made ready for the model on the Python workers (our runner code, the
    model's files for a cluster); what every Python worker needs to load the model."""
    sc = spark.sparkContext
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(spec.chunk_rows))
    if Path(RUNTIME_ZIP).is_file():
        sc.addPyFile(os.path.abspath(RUNTIME_ZIP))
    local = str(spec.engine.get("master", "")).startswith("local")
    if not local:  # executors elsewhere: the model's files go with the application
        for entry in Path(".").iterdir():
            if entry.is_file() and not entry.name.startswith("."):
                sc.addFile(os.path.abspath(entry))
    setup = {
        "job_id": spec.job.get("id") or spec.output_path,
        "source": spec.source,
        "tags": tags.as_dict(),
        "job": spec.job,
        "columns": [],
        "files_dir": os.getcwd() if local else FILES_FROM_SPARK,
    }
    return setup


def _pandas(spark, spec: JobSpec, tags: SmartTags, events: Events, secrets: dict) -> Counts:
    from jobs.spark.executor import BlocksParam, RejectsParam, partitions_scorer

    setup = _setup(spark, spec, tags)
    if spec.job_type == "metrics":
        from jobs.spark.metrics import spark_metrics

        return spark_metrics(spark, spec, tags, setup=setup, events=events, secrets=secrets)
    sc = spark.sparkContext
    with spark_failures("Spark could not read the input"):
        frame, setup["layouts"] = inputs_read(
            spark, spec.inputs, secrets, input_schema=spec.input_schema
        )
    schema = output_schema(spark, spec, frame, setup)
    setup["columns"] = schema.fieldNames()
    counts = Counts(bytes_total=sum(os.path.getsize(i.path) for i in spec.inputs if i.path))
    accumulators = {k: sc.accumulator(0) for k in ("read", "written", "rejected", "overflow")}
    accumulators["blocks"] = sc.accumulator({}, BlocksParam())
    accumulators["rejects"] = sc.accumulator({}, RejectsParam())
    scored = frame.mapInPandas(partitions_scorer(setup, accumulators), schema)
    staging = Path(spec.output_path).parent
    parts = bool(spec.engine.get("output_parts"))
    progress = Progress(sc=sc, events=events, counts=counts, accumulators=accumulators)
    started = time.monotonic()
    with spark_running(progress):
        writer = scored.write.mode("overwrite")
        fmt = spark_format(spec.output_format)
        if fmt == "json":
            writer = writer.option("ignoreNullFields", "false")
        elif fmt == "csv":  # a published folder's parts each have a header; joined, one has
            writer = writer.option("header", str(parts).lower())
        writer.format(fmt).save(str(staging / PARTS_FOLDER))
        print(f"Spark: input scored and output written in {time.monotonic() - started:.1f} s",
              flush=True)  # fmt: skip
        rejects = Rejects(spec.rejects_path, counts, RejectLimits.of(spec))
        try:
            rejects_add(rejects, rejects_of(frame, setup, accumulators),
                        RecordNumbers(spec.inputs, accumulators["blocks"].value))  # fmt: skip
        finally:
            rejects.close()
    written = accumulators["written"].value
    counts.records_written = parts_written(
        staging / PARTS_FOLDER, fmt=spec.output_format, header=parts, written=written,
        what="the job's output",
    )  # fmt: skip
    if not parts:
        parts_join(staging / PARTS_FOLDER, Path(spec.output_path), fmt=spec.output_format,
                   columns=setup["columns"], what="the job's output")  # fmt: skip
    counts.records_read = accumulators["read"].value
    counts.bytes_read = counts.bytes_total
    rejects.finish()
    return counts


def output_schema(spark, spec: JobSpec, frame, setup: dict):
    """The Spark schema of the score function's output: the job's output .avsc, otherwise
    the model's output for the first SAMPLE_ROWS records of FRAME."""
    ddl = avro_ddl(spec.output_schema)
    if ddl is not None:
        return spark.createDataFrame([], ddl).schema
    # the model on a few records, in a Python worker: its output's columns and types
    sample = _sample(frame, setup)
    if not len(sample):
        raise JobError(
            f"the model gave no output for the first {SAMPLE_ROWS} records, so its output "
            "schema is unknown; attach an output schema (.avsc) and choose it for the job"
        )
    schema = spark.createDataFrame(sample).schema
    print(f"Spark: output schema from a sample: {schema.simpleString()}", flush=True)
    return schema


def rejects_of(frame, setup: dict, accumulators: dict):
    """Every reject's (key, JSON), in input order: from the accumulator, or when a task had
    more than it sends there, from a second pass of the model over the input."""
    from pyspark.sql.types import StringType, StructField, StructType

    from jobs.spark.executor import REJECT_COLUMN, reject_order, rejects_scorer

    if not accumulators["overflow"].value:
        kept = accumulators["rejects"].value
        return [(k, kept[k]) for k in sorted(kept, key=reject_order)]
    print(f"Spark: {accumulators['rejected'].value:,} rejects, more than a task sends with its "
          "result: gathering them in a second pass", flush=True)  # fmt: skip
    schema = StructType([StructField("key", StringType(), False),
                         StructField(REJECT_COLUMN, StringType(), False)])  # fmt: skip
    rows = frame.mapInPandas(rejects_scorer(setup), schema).toLocalIterator()
    found = {tuple(orjson.loads(r[0])): r[1] for r in rows}
    return [(k, found[k]) for k in sorted(found, key=reject_order)]


def rejects_add(rejects: Rejects, entries, numbers: RecordNumbers) -> None:
    for number, (_, text) in enumerate(entries, start=1):
        entry = orjson.loads(text)
        if at := entry.pop("at", None):
            asset, record = numbers.of(*at)
            rejects.add(record=record, asset=asset, **entry)
        else:
            rejects.add(record=number, **entry)


def _sample(frame, setup: dict):
    """The model's output for the first SAMPLE_ROWS records (rejects left out), scored in a
    Python worker as every batch is, never in this process: model code does not run beside
    the job's session. It comes back as Arrow, so its column types are the model's."""
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql.types import BinaryType, StructField, StructType

    from jobs.spark.executor import sample_scorer

    schema = StructType([StructField("arrow", BinaryType(), False)])
    with spark_failures("the model failed on a sample of its input"):
        rows = frame.limit(SAMPLE_ROWS).mapInPandas(sample_scorer(setup), schema).collect()
    frames = [pa.ipc.open_stream(bytes(row[0])).read_pandas() for row in rows]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@contextmanager
def spark_failures(what: str) -> Iterator[None]:
    """A failure of Spark's (or of model code on the executors) as a JobError: WHAT, then
    its reason (spark_reason); a JobError of ours as it is."""
    try:
        yield
    except JobError:
        raise
    except Exception as exc:
        raise JobError(f"{what}: {spark_reason(exc)}") from None


@contextmanager
def spark_running(progress: Progress) -> Iterator[None]:
    """Around a job's Spark actions: PROGRESS sent while they run and once more when they
    have succeeded; a failure in words, as the Spark job's (spark_failures)."""
    progress.start()
    try:
        with spark_failures("the Spark job failed"):
            yield
    finally:
        progress.stop()
    progress.send(running=False)


def spark_reason(exc: Exception) -> str:
    """The first line of a Python error from the executors, else Spark's own first line."""
    text = str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("jobs.runner.errors.JobError:", "pyspark.errors")):
            return line.split(":", 1)[1].strip()[:500]
    for line in text.splitlines():
        if "Error" in line or "Exception" in line:
            return " ".join(line.split())[:500]
    return describe(exc)
