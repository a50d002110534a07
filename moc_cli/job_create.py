"""`moc job create`: the seed product's `moc job create batchjob|testjob|trainingjob
<model-or-snapshot-uuid> <input> <output>`, with options."""

from __future__ import annotations

import json
import time
import uuid as uuidlib
from pathlib import Path

import click

from jobs.formats import FORMATS
from moc_cli.client import Api
from moc_cli.context import State, pass_state
from moc_cli.errors import JOB_FAILED, NOT_FOUND, MocError
from moc_cli.jobs import JOB_TYPES, job_created
from moc_cli.locations import input_spec, output_spec
from moc_cli.options import json_option, quiet_option, uuid_argument, wait_options
from moc_cli.output import echo_json, size, table


def _target(api: Api, target: str) -> tuple[str, dict | None]:
    """("snapshot", None) for a snapshot UUID, ("model", the model) for a model UUID: the
    server then runs its champion, or its newest snapshot when it has no champion."""
    try:
        api.get(f"/api/snapshots/{target}/", what="Snapshot")
        return "snapshot", None
    except MocError as exc:
        if exc.exit_code != NOT_FOUND:
            raise
    try:
        model = api.get(f"/api/models/{target}/", what="Model")
    except MocError as exc:
        if exc.exit_code == NOT_FOUND:
            raise MocError(
                f"No model or snapshot {target} (unknown, or you may not see it); "
                f"`moc model list` shows yours.",
                code=NOT_FOUND,
            ) from None
        raise
    return "model", model


def _label(job: dict, model: dict | None) -> str:
    """What the job runs, and, for a model, which of its snapshots and why."""
    snapshot = job.get("snapshot") or {}
    label = f"{job['model']['name']} v{snapshot.get('version')}"
    if model is None:
        return label
    champion = model.get("champion") or {}
    if champion.get("uuid") == snapshot.get("uuid"):
        return f"{label} (the model's champion)"
    if not champion:
        return f"{label} (its newest snapshot; the model has no champion)"
    return f"{label} (not the champion v{champion.get('version')}: it changed meanwhile)"


def _params(pairs: tuple[str, ...]) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="--param")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value
    return params


def _max_rejects(text: str | None) -> dict:
    """--max-rejects N or P% → the API's max_rejects or max_rejects_percent."""
    if not text:
        return {}
    value = text.strip().replace(",", "")
    try:
        if value.endswith("%"):
            percent = float(value[:-1])
            if 0 <= percent <= 100:
                return {"max_rejects_percent": percent}
        elif int(value) >= 0:
            return {"max_rejects": int(value)}
    except ValueError:
        pass
    raise click.BadParameter(
        f"{text!r} is not a number of records (10) or a percentage (2.5%).",
        param_hint="--max-rejects",
    )


@click.command("create")
@click.argument("job_type", metavar="batchjob|testjob|trainingjob",
                type=click.Choice(list(JOB_TYPES), case_sensitive=False))  # fmt: skip
@uuid_argument("target", metavar="MODEL-OR-SNAPSHOT-UUID")
@click.argument("input_", metavar="INPUT")
@click.argument("output", metavar="OUTPUT")
@click.option(
    "--input",
    "more_inputs",
    multiple=True,
    metavar="INPUT",
    help="Another input (repeat as needed), read after the first.",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE",
    help="ModelOp's assetRole of each input, in order (INPUT first, then each --input): "
    "BASELINE_DATA, COMPARATOR_DATA, SAMPLE_DATA, TRAINING_DATA, ...",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(FORMATS),
    help="Format of the inputs (default: from each file's extension).",
)
@click.option(
    "--output-format",
    type=click.Choice(FORMATS),
    help="Format of the output (default: from its name).",
)
@click.option(
    "--connection",
    default="",
    metavar="NAME",
    help="Connection of s3://, hdfs:// and sql: inputs (needed only when you may "
    "use several of that kind).",
)
@click.option(
    "--output-connection",
    default="",
    metavar="NAME",
    help="Connection of the output (default: --connection, when the output is of "
    "the same kind as the first input).",
)
@click.option(
    "--write-mode",
    type=click.Choice(["replace", "append"]),
    help="An external output that exists: replace it (default) or append to it.",
)
@click.option(
    "--embed", is_flag=True, help="Keep local input files with the job instead of uploading them."
)
@click.option(
    "--runtime",
    default="",
    metavar="NAME",
    help="Runtime name or UUID (default: the system chooses one).",
)
@click.option(
    "--input-schema",
    default="",
    metavar="NAME.avsc",
    help="The snapshot's Avro schema for input records.",
)
@click.option(
    "--output-schema",
    default="",
    metavar="NAME.avsc",
    help="The snapshot's Avro schema for output records.",
)
@click.option(
    "--check-input",
    is_flag=True,
    help="Check input records against --input-schema; failing ones are rejected.",
)
@click.option(
    "--check-output",
    is_flag=True,
    help="Check output records against --output-schema; failing ones are rejected.",
)
@click.option(
    "--stop-on-bad-records",
    is_flag=True,
    help="End the job in ERROR at the first rejected record (ModelOp's stopOnBadRecords).",
)
@click.option(
    "--max-rejects",
    metavar="N|P%",
    default=None,
    help="Error threshold: end the job in ERROR when more than N records (or P % of them) "
    "are rejected.",
)
@click.option(
    "--evaluator", is_flag=True, help="Metrics jobs: measure with the built-in evaluator."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A job parameter; VALUE is read as JSON when it parses, else as text.",
)
@click.option(
    "--idempotency-key",
    default="",
    metavar="KEY",
    help="Creating again with the same KEY gives the same job, never a second one.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Create no job: try the model, sandboxed and time-bound on a worker, on the first "
    "100 records of each input, and print its output records (or the error) and the schema "
    "checks' verdicts. Uploaded files and pasted data only; OUTPUT is not written.",
)
@wait_options
@quiet_option("the job UUID")
@json_option
@pass_state
def job_create(state: State, job_type: str, target: str, input_: str, output: str,
               more_inputs: tuple[str, ...], roles: tuple[str, ...], input_format: str | None,
               output_format: str | None, connection: str, output_connection: str,
               write_mode: str | None, embed: bool, runtime: str, input_schema: str,
               output_schema: str, check_input: bool, check_output: bool,
               stop_on_bad_records: bool, max_rejects: str | None, evaluator: bool,
               params: tuple[str, ...], idempotency_key: str, dry_run: bool, wait: bool,
               progress: bool | None, quiet: bool, as_json: bool) -> None:  # fmt: skip
    """Create a job: run a model's score (batchjob), metrics (testjob) or train (trainingjob)
    function on INPUT, writing OUTPUT. Prints the job UUID as the last word.

    \b
    MODEL-OR-SNAPSHOT-UUID  a snapshot, or a model (= its champion, or its newest
            snapshot when it has no champion; the output says which)
    INPUT   a local file (uploaded), s3://bucket/key-or-prefix/, hdfs://namenode/path,
            or sql:SELECT ... (sql:CONNECTION:SELECT ... names the connection)
    OUTPUT  a file name such as scores.jsonl (kept with the job, in that format;
            `moc job result UUID --save` writes it here), s3://..., hdfs://...,
            or sql:TABLE (sql:CONNECTION:TABLE)
    """
    fmt = input_format or ""
    specs = [
        input_spec(text, connection=connection, fmt=fmt, embed=embed)
        for text in (input_, *more_inputs)
    ]
    if len(roles) > len(specs):
        raise click.UsageError(f"{len(roles)} --role for {len(specs)} inputs")
    first = specs[0] if isinstance(specs[0], dict) else {"kind": "upload"}
    out = output_spec(output, connection="", fmt=output_format or "", write_mode=write_mode or "")
    if out["kind"] != "embedded":
        # By default, an output of the first input's kind goes to that input's connection.
        same = out["kind"] == first["kind"]
        chosen = output_connection or (first.get("connection", "") if same else "")
        if chosen and "connection" not in out:
            out["connection"] = chosen
    job_params = _params(params)  # usage errors first, before anything is uploaded
    limits = _max_rejects(max_rejects)
    key = idempotency_key.strip() or uuidlib.uuid4().hex
    api = state.api()
    field, model = _target(api, target)
    inputs = []
    for position, spec in enumerate(specs):
        if isinstance(spec, Path):
            upload = api.upload(spec)
            if upload.get("reused"):
                click.echo(
                    f"{spec.name} is on the server already (same SHA-256); not sent again.",
                    err=True,
                )
            else:
                click.echo(f"Uploaded {spec.name} ({size(upload.get('size'))}).", err=True)
            spec = {"kind": "upload", "upload": upload["uuid"]}
            if fmt:
                spec["format"] = fmt
        if position < len(roles):
            spec = {**spec, "role": roles[position].upper()}
        inputs.append(spec)
    body: dict = {"job_type": JOB_TYPES[job_type.lower()], field: target, "inputs": inputs,
                  "output": out}  # fmt: skip
    if runtime:
        body["runtime"] = runtime
    for name, value in (("input_schema", input_schema), ("output_schema", output_schema)):
        if value:
            body[name] = value
    if check_input:
        body["check_input_schema"] = True
    if check_output:
        body["check_output_schema"] = True
    if stop_on_bad_records:
        body["stop_on_bad_records"] = True
    body.update(limits)
    if job_params:
        body["params"] = job_params
    if evaluator:
        body["evaluator"] = True
    if dry_run:
        dry_run_show(api, api.post("/api/jobs/dry-run/", json=body), model=model, as_json=as_json)
        return
    response = api.request("POST", "/api/jobs/", json=body, keyed=True,
                           headers={"Idempotency-Key": key})  # fmt: skip
    job = response.json()
    where = job.get("runtime") or ""
    placement = f" ({job['placement']})" if job.get("placement") else ""
    label = _label(job, model)
    lines = [f"{job['job_type'].capitalize()} job on {label}, runtime {where}{placement}."]
    again = response.status_code == 200
    if again and idempotency_key.strip():
        lines.append("This idempotency key made this job before; nothing new was created.")
    elif again:  # our automatic key: a first try's answer was lost on the way back
        lines.append("The first try made this job (its answer was lost); no second job.")
    job_created(api, job, as_json=as_json, quiet=quiet, wait=wait, progress=progress,
                lines=tuple(lines), verb="Job" if again else "Created job")  # fmt: skip


def dry_run_show(api: Api, dry_run: dict, *, model: dict | None, as_json: bool) -> None:
    """Wait for the dry run to end and print what the model did on the sample; exit
    JOB_FAILED when the model failed on it."""
    snapshot = dry_run.get("snapshot") or {}
    if model is None:
        label = f"snapshot v{snapshot.get('version')}"
    else:
        label = _label({"model": model, "snapshot": snapshot}, model)
    click.echo(f"Trying {label} on the first {dry_run['records']} records of each input "
               f"(runtime {dry_run.get('runtime') or '?'}); no job is created.", err=True)  # fmt: skip
    while dry_run["status"] not in ("done", "error"):
        time.sleep(0.5)
        dry_run = api.get(f"/api/dry-runs/{dry_run['uuid']}/", what="Dry run")
    result = dry_run.get("result") or {}
    if as_json:
        echo_json(dry_run)
    else:
        counts = result.get("counts") or {}
        if "records_read" in counts:
            click.echo(f"Read {counts['records_read']}, wrote {counts.get('records_written', 0)}, "
                       f"rejected {counts.get('records_rejected', 0)} records "
                       f"in {result.get('seconds', 0)} s.")  # fmt: skip
        for check in result.get("schema_checks") or []:
            click.echo(f"{check['side'].capitalize()} schema {check['schema']}: {check['text']}")
        output = result.get("output") or {}
        if output.get("columns"):
            table(output["rows"], output["columns"])
        for metrics in result.get("metrics") or []:
            echo_json(metrics)
        for artifact in result.get("artifacts") or []:
            click.echo(f"artifact {artifact['name']} ({size(artifact.get('size'))})")
        for reject in result.get("rejects") or []:
            click.echo(f"rejected {reject['direction']} record {reject.get('record')}: "
                       f"{reject['reason']}", err=True)  # fmt: skip
    if dry_run["status"] == "error":
        raise MocError(f"The model failed on the sample: {result.get('error', '')}",
                       code=JOB_FAILED)  # fmt: skip
