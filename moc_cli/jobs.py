"""`moc job ...`: create batch jobs, follow them, fetch their results."""

from __future__ import annotations

import json
import sys
import time
import uuid as uuidlib
from pathlib import Path

import click
from tqdm import tqdm

from jobs.formats import FORMATS
from moc_cli.client import Api
from moc_cli.context import State, pass_state
from moc_cli.errors import JOB_FAILED, NOT_FOUND, REJECTED, USAGE, MocError
from moc_cli.locations import input_spec, output_spec
from moc_cli.output import count, echo_json, fields, seconds, short, size, table, when

# The seed product's names first, then the API's own.
JOB_TYPES = {
    "batchjob": "scoring",
    "testjob": "metrics",
    "trainingjob": "training",
    "scoring": "scoring",
    "metrics": "metrics",
    "training": "training",
}
TERMINAL = ("COMPLETE", "ERROR", "CANCELLED")
STATUSES = ("CREATED", "WAITING", "RUNNING", *TERMINAL)

json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")


def uuid_argument(name: str, metavar: str = "UUID"):
    def check(ctx, param, value: str) -> str:
        try:
            return str(uuidlib.UUID(value))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a UUID.") from None

    return click.argument(name, metavar=metavar, callback=check)


def _job_path(job_uuid: str, tail: str = "") -> str:
    return f"/api/jobs/{job_uuid}/{tail}"


def _job_get(api: Api, job_uuid: str) -> dict:
    return api.get(_job_path(job_uuid), what=f"Job {job_uuid}")


def _model_label(job: dict) -> str:
    model = (job.get("model") or {}).get("name", "")
    version = (job.get("snapshot") or {}).get("version")
    return f"{model} v{version}" if version is not None else model


def _records(job: dict) -> str:
    text = f"{count(job.get('records_read') or 0)} read, {count(job.get('records_written') or 0)} written"
    if job.get("records_rejected"):
        text += f", {count(job['records_rejected'])} rejected"
    return text


@click.group("job")
def job_group() -> None:
    """Create batch jobs, follow them and fetch their results."""


# --- create ------------------------------------------------------------------------------------


def _target(api: Api, target: str) -> tuple[str, str]:
    """("snapshot"|"model", label) for a snapshot or model UUID; a model means its newest
    snapshot."""
    try:
        snapshot = api.get(f"/api/snapshots/{target}/", what="Snapshot")
        return "snapshot", f"{snapshot['model']['name']} v{snapshot['version']}"
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
    latest = model.get("latest_snapshot") or {}
    version = f" v{latest['version']}" if latest.get("version") is not None else ""
    return "model", f"{model['name']}{version} (its newest snapshot)"


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


@job_group.command("create")
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
    "--wait", is_flag=True, help="Watch the job until it ends; exit 1 unless it is COMPLETE."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show the progress bar of --wait (default: on a terminal).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the job UUID.")
@json_option
@pass_state
def job_create(state: State, job_type: str, target: str, input_: str, output: str,
               more_inputs: tuple[str, ...], input_format: str | None,
               output_format: str | None, connection: str, output_connection: str,
               write_mode: str | None, embed: bool, runtime: str, input_schema: str,
               output_schema: str, check_input: bool, check_output: bool, evaluator: bool,
               params: tuple[str, ...], idempotency_key: str, wait: bool,
               progress: bool | None, quiet: bool, as_json: bool) -> None:  # fmt: skip
    """Create a job: run a model's score (batchjob), metrics (testjob) or train (trainingjob)
    function on INPUT, writing OUTPUT. Prints the job UUID as the last word.

    \b
    MODEL-OR-SNAPSHOT-UUID  a snapshot, or a model (= its newest snapshot)
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
    first_kind = specs[0]["kind"] if isinstance(specs[0], dict) else "upload"
    out = output_spec(output, connection="", fmt=output_format or "", write_mode=write_mode or "")
    if out["kind"] != "embedded":
        chosen = output_connection or (connection if out["kind"] == first_kind else "")
        if chosen and "connection" not in out:
            out["connection"] = chosen
    key = idempotency_key.strip() or uuidlib.uuid4().hex
    api = state.api()
    field, label = _target(api, target)
    inputs = []
    for spec in specs:
        if isinstance(spec, Path):
            upload = api.upload(spec)
            click.echo(f"Uploaded {spec.name} ({size(upload.get('size'))}).", err=True)
            spec = {"kind": "upload", "upload": upload["uuid"]}
            if fmt:
                spec["format"] = fmt
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
    if params:
        body["params"] = _params(params)
    if evaluator:
        body["evaluator"] = True
    response = api.request("POST", "/api/jobs/", json=body, keyed=True,
                           headers={"Idempotency-Key": key})  # fmt: skip
    job = response.json()
    again = response.status_code == 200
    if as_json:
        echo_json(job)
    elif quiet:
        click.echo(job["uuid"])
    else:
        where = job.get("runtime") or ""
        placement = f" ({job['placement']})" if job.get("placement") else ""
        click.echo(f"{job['job_type'].capitalize()} job on {label}, runtime {where}{placement}.")
        if again:
            click.echo("This idempotency key made this job before; nothing new was created.")
        click.echo(f"Job {job['uuid']}" if again else f"Created job {job['uuid']}")
    if wait:
        code = watch(api, job["uuid"], progress=progress, summary_to_stderr=True)
        sys.exit(code)


# --- follow ------------------------------------------------------------------------------------


def _progress_text(job: dict) -> str:
    parts = [_records(job)]
    if job.get("rate"):
        parts.append(f"{job['rate']:,.0f} rec/s")
    if job.get("eta_seconds") is not None and job.get("status") == "RUNNING":
        parts.append(f"ETA {seconds(job['eta_seconds'])}")
    return ", ".join(parts)


def watch(api: Api, job_uuid: str, *, progress: bool | None, interval: float = 1.0,
          summary_to_stderr: bool = False) -> int:  # fmt: skip
    """Show a progress bar until the job ends; the exit code: 0 on COMPLETE, else 1."""
    job = _job_get(api, job_uuid)
    bar = tqdm(
        total=100,
        file=sys.stderr,
        disable=None if progress is None else not progress,
        bar_format="{desc:<9}{percentage:3.0f}%|{bar:30}| {elapsed} {postfix}",
        dynamic_ncols=True,
    )
    try:
        while True:
            if job.get("percent") is not None:
                bar.n = min(100.0, float(job["percent"]))
            if job["status"] == "COMPLETE":
                bar.n = 100
            bar.set_description_str(job["status"], refresh=False)
            bar.set_postfix_str(_progress_text(job), refresh=False)
            bar.refresh()
            if job["status"] in TERMINAL:
                break
            time.sleep(interval)
            job = _job_get(api, job_uuid)
    except KeyboardInterrupt:
        bar.close()
        click.echo(
            f"Stopped watching; the job goes on (`moc job cancel {job_uuid}` stops it).", err=True
        )
        return 130
    bar.close()
    result = f" ({job['result']})" if job.get("result") else ""
    took = f" in {seconds(job['elapsed_seconds'])}" if job.get("elapsed_seconds") else ""
    click.echo(
        f"Job {job_uuid} {job['status']}{result}: {_records(job)}{took}.",
        err=summary_to_stderr,
    )
    if job["status"] == "COMPLETE":
        return 0
    reason = job.get("error_message") or "no reason recorded"
    click.echo(f"Error: the job ended {job['status']}: {reason}", err=True)
    return JOB_FAILED


@job_group.command("watch")
@uuid_argument("job_uuid")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="Seconds between two looks at the job.")  # fmt: skip
@click.option("--progress/--no-progress", default=None,
              help="Show the progress bar (default: on a terminal).")  # fmt: skip
@pass_state
def job_watch(state: State, job_uuid: str, interval: float, progress: bool | None) -> None:
    """Follow a job with a live progress bar until it ends. Exit code 0 when it is
    COMPLETE, 1 when it ended otherwise (ERROR, CANCELLED)."""
    sys.exit(watch(state.api(), job_uuid, progress=progress, interval=interval))


@job_group.command("status")
@uuid_argument("job_uuid")
@json_option
@pass_state
def job_status(state: State, job_uuid: str, as_json: bool) -> None:
    """Show a job: status, progress, inputs, output, error."""
    job = _job_get(state.api(), job_uuid)
    if as_json:
        echo_json(job)
        return
    result = f" ({job['result']})" if job.get("result") else ""
    percent = f"{job['percent']:.0f}%" if job.get("percent") is not None else ""
    output = job.get("output") or {}
    snapshot = job.get("result_snapshot") or {}
    fields(
        [
            ("Job", job["uuid"]),
            ("Type", job["job_type"]),
            ("Status", f"{job['status']}{result}"),
            ("Model", f"{_model_label(job)} (snapshot {(job.get('snapshot') or {}).get('uuid')})"),
            ("Runtime", " ".join(filter(None, [job.get("runtime"), f"({job['placement']})" if job.get("placement") else ""]))),
            ("Worker", job.get("worker")),
            ("Created", f"{when(job.get('created_at'))} by {job.get('created_by')}"),
            ("Started", when(job.get("started_at"))),
            ("Finished", when(job.get("finished_at"))),
            ("Elapsed", seconds(job.get("elapsed_seconds"))),
            ("Progress", percent),
            ("Records", _records(job)),
            ("Rate", f"{job['rate']:,.0f} records/s" if job.get("rate") else ""),
            ("ETA", seconds(job.get("eta_seconds")) if job["status"] == "RUNNING" else ""),
            ("Attempts", job.get("attempts")),
            *[(f"Input {i + 1}", _asset_label(a)) for i, a in enumerate(job.get("inputs") or [])],
            ("Output", _asset_label(output) if output else ""),
            ("New snapshot", f"v{snapshot.get('version')} {snapshot.get('uuid')}" if snapshot else ""),
            ("Error", job.get("error_message")),
            ("Page", (job.get("links") or {}).get("page")),
        ]
    )  # fmt: skip


def _asset_label(asset: dict) -> str:
    where = asset.get("location") or asset.get("query") or asset.get("name") or ""
    parts = [asset.get("kind", ""), where]
    if asset.get("format"):
        parts.append(f"[{asset['format']}]")
    if asset.get("connection"):
        parts.append(f"on {asset['connection']}")
    if asset.get("size") is not None:
        parts.append(size(asset["size"]))
    return " ".join(p for p in parts if p)


@job_group.command("list")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False))
@click.option("--type", "job_type", type=click.Choice(list(JOB_TYPES), case_sensitive=False))
@click.option("--model", default="", metavar="UUID", help="Jobs of this model.")
@click.option("--user", default="", metavar="NAME", help="Jobs this user created.")
@click.option("--runtime", default="", metavar="NAME", help="Jobs of this runtime.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_state
def job_list(state: State, status: str | None, job_type: str | None, model: str, user: str,
             runtime: str, limit: int, as_json: bool) -> None:  # fmt: skip
    """List jobs you may see, newest first."""
    params = {
        "status": (status or "").upper(),
        "job_type": JOB_TYPES[job_type.lower()] if job_type else "",
        "model": model,
        "created_by": user,
        "runtime": runtime,
    }
    params = {k: v for k, v in params.items() if v}
    jobs = list(state.api().pages("/api/jobs/", params=params, limit=limit))
    if as_json:
        echo_json(jobs)
        return
    table(
        (
            [
                j["uuid"],
                j["job_type"],
                j["status"],
                _model_label(j),
                when(j.get("created_at")),
                j.get("created_by"),
                count(j.get("records_read")),
                count(j.get("records_written")),
            ]
            for j in jobs
        ),  # fmt: skip
        ["UUID", "TYPE", "STATUS", "MODEL", "CREATED", "BY", "READ", "WRITTEN"],
        empty="No jobs.",
    )


@job_group.command("cancel")
@uuid_argument("job_uuid")
@json_option
@pass_state
def job_cancel(state: State, job_uuid: str, as_json: bool) -> None:
    """Cancel a job that waits or runs (its model's process is stopped)."""
    job = state.api().post(_job_path(job_uuid, "cancel/"), what=f"Job {job_uuid}")
    if as_json:
        echo_json(job)
    else:
        click.echo(f"Job {job_uuid} {job.get('status', 'CANCELLED')}.")


@job_group.command("logs")
@uuid_argument("job_uuid")
@json_option
@pass_state
def job_logs(state: State, job_uuid: str, as_json: bool) -> None:
    """Print the tail of a job's log."""
    body = state.api().get(_job_path(job_uuid, "log/"), what=f"Job {job_uuid}")
    if as_json:
        echo_json(body)
    elif body.get("log"):
        click.echo(body["log"].rstrip("\n"))
    else:
        click.echo(f"The job's log is empty ({body.get('status')}).", err=True)


# --- result ------------------------------------------------------------------------------------


def _result(api: Api, job_uuid: str) -> dict:
    try:
        return api.get(_job_path(job_uuid, "result/"), what=f"Job {job_uuid}")
    except MocError as exc:
        if exc.exit_code != REJECTED:
            raise
    job = _job_get(api, job_uuid)
    if job["status"] in TERMINAL:
        reason = job.get("error_message") or "no reason recorded"
        raise MocError(f"Job {job_uuid} ended {job['status']}: {reason}", code=JOB_FAILED)
    raise MocError(
        f"Job {job_uuid} is {job['status']}; its result is not ready "
        f"(`moc job watch {job_uuid}` waits for it).",
        code=REJECTED,
    )


def _metrics(metrics) -> None:
    if isinstance(metrics, dict):
        metrics = [metrics]
    for i, item in enumerate(metrics or []):
        if len(metrics) > 1:
            click.echo(f"Metrics {i + 1}:")
        if isinstance(item, dict):
            fields((str(key), short(value)) for key, value in item.items())
        else:
            click.echo(short(item))


@job_group.command("result")
@uuid_argument("job_uuid")
@click.option("-o", "--output", "dest", type=click.Path(dir_okay=False, writable=True),
              help="Write the output file here (for output kept with the job).")  # fmt: skip
@click.option("--save", is_flag=True,
              help="Write the output file under the name given at `job create` (e.g. scores.jsonl).")  # fmt: skip
@json_option
@pass_state
def job_result(state: State, job_uuid: str, dest: str | None, save: bool, as_json: bool) -> None:
    """The result of a COMPLETE job. Output kept with the job: its records (or a file with
    -o/--save). External output: where it is, and a download link when there is one. Metrics
    jobs: the metrics. Training jobs: the new snapshot."""
    api = state.api()
    result = _result(api, job_uuid)
    output = result.get("output") or {}
    local = output.get("kind") in ("embedded", "file")
    if save and not dest:
        dest = output.get("name") or ""
        if not dest or not local:
            raise MocError("This job's output is not a file kept with it; nothing to save.",
                           code=USAGE)  # fmt: skip
    if dest and local:
        with open(dest, "wb") as f:
            written = api.download(
                _job_path(job_uuid, "output/"), f, what=f"Output of job {job_uuid}"
            )
        click.echo(
            f"Wrote {count(result.get('records_written'))} records ({size(written)}) to {dest}.",
            err=True,
        )  # fmt: skip
    elif dest:
        raise MocError("This job's output is external; there is no file to write.", code=USAGE)
    if as_json:
        echo_json(result)
        return
    job_type = result.get("job_type")
    snapshot = result.get("result_snapshot")
    if result.get("records_rejected"):
        rejects = f"; rejects: {result['rejects_url']}" if result.get("rejects_url") else ""
        click.echo(f"{count(result['records_rejected'])} records were rejected{rejects}", err=True)
    if job_type == "training":
        if not snapshot:
            raise MocError("The training job made no snapshot.", code=JOB_FAILED)
        model = snapshot.get("model") or {}
        name = model.get("name", "") if isinstance(model, dict) else str(model)
        click.echo(f"New snapshot: {name} v{snapshot['version']} {snapshot['uuid']}")
        return
    if job_type == "metrics" and result.get("metrics") is not None:
        _metrics(result["metrics"])
        return
    if not local:
        connection = f" (connection {output['connection']})" if output.get("connection") else ""
        where = output.get("location") or ""
        click.echo(f"Output: {'table ' if output.get('kind') == 'sql' else ''}{where}{connection}")
        if result.get("download_url"):
            click.echo(f"Download: {result['download_url']}")
        return
    if dest:
        return
    if output.get("format") == "parquet":
        raise MocError(
            "The output is Parquet, which is binary: write it with -o FILE or --save.",
            code=USAGE,
        )
    api.download(
        _job_path(job_uuid, "output/"), sys.stdout.buffer, what=f"Output of job {job_uuid}"
    )
