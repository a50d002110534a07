"""A dry run on the worker: the job's model on the first records of its inputs, in the same
sandboxed child process a job gets (work dir, spec, sandbox policy, lease), time-bound, and
nothing committed: no output asset, no snapshot, no Job row. The outcome (the first output
records, metrics or artifacts, rejects with reasons, the schema checks' verdicts, or the
error) is written to the DryRun row for the page, the API and `moc job create --dry-run`.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import queue
import time
from pathlib import Path

from django.conf import settings

from dryruns.models import DryRun
from jobs.models import Job, JobAsset
from jobs.preview import READERS, Preview, arrow_errors
from jobs.runner.errors import JobError
from jobs.runner.spec import OUTPUT_DIR, JobSpec
from jobs.worker.process import EOF, exit_description, log_tail
from jobs.worker.workdir import WorkDir, model_process_start, staged_file, workdir_prepare

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.1
_REJECTS_SHOWN = 20
_LOG_BYTES = 8 * 1024
_MAX_JSON_ARRAY_BYTES = 64 * 1024 * 1024
_COUNTERS = ("records_read", "records_written", "records_rejected")


def dry_run_execute(*, dry_run_uuid: str) -> None:
    """Never raises: whatever goes wrong ends as a dry run in ERROR with a reason."""
    claimed = DryRun.objects.filter(uuid=dry_run_uuid, status=DryRun.Status.WAITING).update(
        status=DryRun.Status.RUNNING
    )
    if claimed != 1:  # a duplicate delivery, or deleted meanwhile
        return
    dry_run = DryRun.objects.select_related("snapshot__model", "runtime", "created_by").get(
        uuid=dry_run_uuid
    )
    workdir = WorkDir(Path(settings.JOB_WORK_DIR) / f"dryrun-{dry_run.uuid}")
    try:
        result = _run(dry_run, workdir)
    except JobError as exc:
        result = {"error": str(exc), "log": log_tail(workdir.log_path, _LOG_BYTES)}
    except Exception as exc:
        logger.exception("dry run %s: internal error", dry_run_uuid)
        result = {"error": f"internal error: {type(exc).__name__}: {exc}"}
    finally:
        workdir.remove()
    status = DryRun.Status.ERROR if result.get("error") else DryRun.Status.DONE
    DryRun.objects.filter(pk=dry_run.pk).update(status=status, result=result)


def _job(dry_run: DryRun) -> Job:
    """An unsaved Job with unsaved assets: what workdir_prepare reads of a job."""
    request = dry_run.request
    job = Job(
        uuid=dry_run.uuid,
        job_type=dry_run.job_type,
        snapshot=dry_run.snapshot,
        runtime=dry_run.runtime,
        created_by=dry_run.created_by,
        params=request.get("params") or {},
        input_schema=request.get("input_schema", ""),
        output_schema=request.get("output_schema", ""),
        check_input_schema=bool(request.get("check_input_schema")),
        check_output_schema=bool(request.get("check_output_schema")),
        attempts=1,
    )
    inputs = []
    for position, entry in enumerate(request.get("inputs") or []):
        asset = JobAsset(
            direction=JobAsset.Direction.INPUT, position=position, kind=entry["kind"],
            name=entry.get("name", ""), format=entry.get("format", ""),
            role=entry.get("role", ""), data=entry.get("data", ""),
        )  # fmt: skip
        if entry.get("file"):
            asset.file.name = entry["file"]
        inputs.append(asset)
    output = JobAsset(
        direction=JobAsset.Direction.OUTPUT, position=0, kind=JobAsset.Kind.EMBEDDED,
        name="output.jsonl", format="jsonl",
    )  # fmt: skip
    # Unsaved rows have no related managers: the two readers workdir_prepare calls.
    job.input_assets = lambda: inputs
    job.output_asset = lambda: output
    return job


def _run(dry_run: DryRun, workdir: WorkDir) -> dict:
    job = _job(dry_run)
    limit = int(dry_run.request.get("records") or settings.DRY_RUN_RECORDS)
    spec = workdir_prepare(job=job, workdir=workdir)
    sampled = []
    for item in spec.inputs:
        path, count = _sample(Path(item.path), item.format, limit, name=item.name)
        item.path = str(path)
        sampled.append({"name": item.name, "records": count})
    spec.write(workdir.spec_path)

    seconds = settings.DRY_RUN_SECONDS
    runtime = dry_run.runtime
    if runtime and runtime.time_limit_seconds:
        seconds = min(seconds, runtime.time_limit_seconds)
    memory = runtime.memory_limit_mb * 2**20 if runtime and runtime.memory_limit_mb else None

    lease, child = model_process_start(workdir=workdir, runtime=dry_run.runtime)
    events: list[dict] = []
    stopped = ""
    started = time.monotonic()
    try:
        while child.poll() is None:
            if (event := child.next_event(_POLL_SECONDS)) is not None:
                events.append(event)
            child.sample_memory()
            if time.monotonic() - started > seconds:
                stopped = f"stopped: the dry run took longer than {seconds} s (DRY_RUN_SECONDS)"
            elif memory and child.peak_memory > memory:
                stopped = f"stopped: the model used more than {memory // 2**20} MB"
            if stopped:
                child.kill()
                child.log_note(stopped)
                break
    finally:
        lease.stop()
        child.finish()
    while True:
        try:
            event = child.events.get_nowait()
        except queue.Empty:
            break
        if event is not EOF:
            events.append(event)
    result = _result(dry_run, spec, workdir, events, child, stopped)
    result["inputs"] = sampled
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def _result(dry_run, spec: JobSpec, workdir: WorkDir, events, child, stopped: str) -> dict:
    counts = dict.fromkeys(_COUNTERS, 0)
    final, metrics = None, None
    for event in events:
        for name in _COUNTERS:
            if isinstance(event.get(name), int):
                counts[name] = event[name]
        if event.get("event") == "metrics" and isinstance(event.get("metrics"), list):
            metrics = event["metrics"]
        if event.get("event") in ("done", "error"):
            final = event
    rejects = _rejects(workdir, spec)
    result: dict = {
        "counts": counts,
        "log": child.log_tail(_LOG_BYTES),
        "rejects": rejects,
        "schema_checks": _verdicts(dry_run.request, counts, rejects),
    }
    if stopped:
        result["error"] = stopped
    elif final and final.get("event") == "error":
        result["error"] = str(final.get("message") or "the model failed")
    elif not (final and final.get("event") == "done" and child.popen.returncode == 0):
        how = exit_description(child.popen.returncode)
        result["error"] = f"the model process ended unexpectedly ({how})"
    if result.get("error"):
        return result
    if metrics is not None:
        result["metrics"] = json.loads(json.dumps(metrics[:10], default=str))
    elif spec.job_type == "training":
        folder = workdir.root / OUTPUT_DIR
        files = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]
        result["artifacts"] = [{"name": p.name, "size": p.stat().st_size} for p in sorted(files)]
    else:
        result["output"] = _output(workdir, spec)
    return result


def _output(workdir: WorkDir, spec: JobSpec) -> dict:
    path = staged_file(spec.output_path, root=workdir.root, what="the output")
    if path is None:
        return {"columns": [], "rows": [], "error": "The model wrote no output."}
    with open(path, "rb") as handle:
        try:
            preview: Preview = READERS[spec.output_format](handle, settings.DRY_RUN_RECORDS)
        except (ValueError, UnicodeDecodeError) as exc:
            preview = Preview(error=f"The output could not be read back: {exc}")
    return {"columns": preview.columns, "rows": preview.rows, "error": preview.error}


def _rejects(workdir: WorkDir, spec: JobSpec) -> list[dict]:
    path = staged_file(spec.rejects_path, root=workdir.root, what="the rejects file")
    if path is None:
        return []
    found = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                record = entry.get("record")
                found.append(
                    {
                        "direction": str(entry.get("direction", "")),
                        "record": record if isinstance(record, int) else None,
                        "reason": str(entry.get("reason", ""))[:500],
                    }
                )
            if len(found) >= _REJECTS_SHOWN:
                break
    return found


def _verdicts(request: dict, counts: dict, rejects: list[dict]) -> list[dict]:
    """For each schema the job names: whether the sample's records fitted, with the first
    reason when not (or that it is not checked)."""
    verdicts = []
    for side in ("input", "output"):
        name = request.get(f"{side}_schema")
        if not name:
            continue
        if not request.get(f"check_{side}_schema"):
            verdicts.append({"side": side, "schema": name, "ok": None, "text": "not checked"})
            continue
        bad = [r for r in rejects if r["direction"] == side and "schema" in r["reason"].lower()]
        if bad:
            more = "+" if len(rejects) >= _REJECTS_SHOWN else ""
            text = f"{len(bad)}{more} records do not fit; the first: {bad[0]['reason']}"
        else:
            text = "every record of the sample fits"
        verdicts.append({"side": side, "schema": name, "ok": not bad, "text": text})
    return verdicts


# --- Samples ----------------------------------------------------------------------------------


def _sample(path: Path, fmt: str, limit: int, *, name: str) -> tuple[Path, int]:
    """The first LIMIT records of the staged input at PATH in a file of their own; the staged
    input (a hard link to the upload, or a copy) goes, so the model reads only the sample."""
    dest = path.with_name(f"sample-{path.name}")
    sampler = SAMPLERS.get(fmt)
    if sampler is None:
        raise JobError(f"input '{name}': no sample of the {fmt!r} format")
    try:
        count = sampler(path, dest, limit)
    except (ValueError, UnicodeDecodeError, csv.Error, OSError, *arrow_errors()) as exc:
        raise JobError(f"input '{name}' could not be read for a sample: {exc}") from None
    path.unlink()
    return dest, count


def _sample_jsonl(path: Path, dest: Path, limit: int) -> int:
    count = 0
    with open(path, "rb") as src, open(dest, "wb") as out:
        for line in src:
            if count >= limit:
                break
            if line.strip():
                out.write(line if line.endswith(b"\n") else line + b"\n")
                count += 1
    return count


def _sample_csv(path: Path, dest: Path, limit: int) -> int:
    count = 0
    with open(path, encoding="utf-8", newline="") as src, open(dest, "w", newline="") as out:
        reader, writer = csv.reader(src), csv.writer(out)
        header = next(reader, None)
        if header is None:
            return 0
        writer.writerow(header)
        for row in itertools.islice(reader, limit):
            writer.writerow(row)
            count += 1
    return count


def _sample_json(path: Path, dest: Path, limit: int) -> int:
    if path.stat().st_size > _MAX_JSON_ARRAY_BYTES:
        raise ValueError(
            f"a JSON array above {_MAX_JSON_ARRAY_BYTES // 2**20} MB; use JSON lines for a sample"
        )
    data = json.loads(path.read_bytes())
    records = (data if isinstance(data, list) else [data])[:limit]
    dest.write_text(json.dumps(records))
    return len(records)


def _sample_parquet(path: Path, dest: Path, limit: int) -> int:
    import pyarrow as pa  # here: the worker holds pyarrow only once it samples Parquet
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    batch = next(parquet.iter_batches(batch_size=limit), None)
    table = (
        pa.Table.from_batches([batch]) if batch is not None else parquet.schema_arrow.empty_table()
    )
    pq.write_table(table, dest)
    return table.num_rows


SAMPLERS = {
    "jsonl": _sample_jsonl,
    "json": _sample_json,
    "csv": _sample_csv,
    "parquet": _sample_parquet,
}
