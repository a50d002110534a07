"""`moc job result`: records, a file, a location, metrics or a new snapshot."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from moc_cli.client import Api
from moc_cli.context import State, pass_state
from moc_cli.errors import JOB_FAILED, REJECTED, USAGE, MocError
from moc_cli.jobs import TERMINAL, _job_get, _job_path
from moc_cli.options import json_option, uuid_argument
from moc_cli.output import count, echo_json, fields, short, size


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


@click.command("result")
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
        dest = Path(output.get("name") or "").name  # a name, never a path elsewhere
        if not dest or not local:
            raise MocError("This job's output is not a file kept with it; nothing to save.",
                           code=USAGE)  # fmt: skip
    if dest and local:
        # Into a temporary name first: a broken download never leaves half a file at DEST.
        partial = Path(f"{dest}.part")
        try:
            with open(partial, "wb") as f:
                written = api.download(
                    _job_path(job_uuid, "output/"), f, what=f"Output of job {job_uuid}"
                )
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)
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
        n = result["records_rejected"]
        was = "record was" if n == 1 else "records were"
        click.echo(
            f"{count(n)} {was} rejected (see the rejects file for each one's reason){rejects}",
            err=True,
        )
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
        if "connection" not in output:  # the result names no connection; the job does
            output = {**(_job_get(api, job_uuid).get("output") or {}), **output}
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
