"""`moc job ...`: the group, and the commands that follow jobs (watch, status, list, cancel,
logs). `job create` is in job_create.py, `job result` in job_result.py."""

from __future__ import annotations

import sys
import time

import click
from tqdm import tqdm

from moc_cli.client import Api
from moc_cli.context import State, pass_state
from moc_cli.errors import JOB_FAILED, UNREACHABLE, MocError
from moc_cli.options import json_option, quiet_option, uuid_argument, wait_options
from moc_cli.output import count, echo_json, echo_list, fields, seconds, size, table, when

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


def _job_path(job_uuid: str, tail: str = "") -> str:
    return f"/api/jobs/{job_uuid}/{tail}"


def _job_get(api: Api, job_uuid: str, *, waits: bool = True) -> dict:
    return api.get(_job_path(job_uuid), what=f"Job {job_uuid}", waits=waits)


def _model_label(job: dict) -> str:
    model = (job.get("model") or {}).get("name", "")
    version = (job.get("snapshot") or {}).get("version")
    return f"{model} v{version}" if version is not None else model


def _records(job: dict) -> str:
    text = f"{count(job.get('records_read') or 0)} read, {count(job.get('records_written') or 0)} written"
    if job.get("records_rejected"):
        text += f", {count(job['records_rejected'])} rejected"
    return text


def job_created(api: Api, job: dict, *, as_json: bool, quiet: bool, wait: bool,
                progress: bool | None, lines: tuple[str, ...] = (),
                verb: str = "Created job") -> None:  # fmt: skip
    """Say which job a command made, the UUID last (or only the UUID, or the JSON); with WAIT,
    watch it and exit with watch's code."""
    if as_json:
        echo_json(job)
    elif quiet:
        click.echo(job["uuid"])
    else:
        for line in lines:
            click.echo(line)
        click.echo(f"{verb} {job['uuid']}")
    if wait:
        sys.exit(watch(api, job["uuid"], progress=progress, summary_to_stderr=True))


@click.group("job")
def job_group() -> None:
    """Create batch jobs, follow them and fetch their results."""


# --- follow ------------------------------------------------------------------------------------


def _progress_text(job: dict) -> str:
    parts = [_records(job)]
    if job.get("rate"):
        parts.append(f"{job['rate']:,.0f} rec/s")
    if job.get("eta_seconds") is not None and job.get("status") == "RUNNING":
        parts.append(f"ETA {seconds(job['eta_seconds'])}")
    return ", ".join(parts)


_SOON = 0.2  # seconds between looks at a job that is about to start or end


def _pause(job: dict, interval: float, previous: float) -> float:
    """Seconds until the next look at JOB: INTERVAL while it has far to go, less when its end
    nears (its ETA, or all its input read: writing and the commit are left) and, growing, in
    its first seconds, so that a watch ends soon after the job does."""
    if job.get("status") == "RUNNING":
        eta = job.get("eta_seconds")
        if isinstance(eta, int | float):
            return min(interval, max(_SOON, eta))
        if (job.get("percent") or 0) >= 100:
            return min(interval, _SOON)
    return min(interval, max(_SOON, previous * 1.5))


def watch(api: Api, job_uuid: str, *, progress: bool | None, interval: float = 1.0,
          summary_to_stderr: bool = False) -> int:  # fmt: skip
    """Show a progress bar until the job ends; the exit code: 0 on COMPLETE, else 1."""
    job = _job_get(api, job_uuid)
    bar = tqdm(
        total=100,
        file=sys.stderr,
        disable=None if progress is None else not progress,
        desc=job["status"],
        bar_format="{desc:<9}{percentage:3.0f}%|{bar:30}| {elapsed}{postfix}",
    )
    unreachable_since = None
    pause = 0.0
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
            pause = _pause(job, interval, pause)
            time.sleep(pause)
            try:
                job = _job_get(api, job_uuid, waits=False)  # an outage shows on the bar
                unreachable_since = None
            except MocError as exc:
                # A server restarting, or its database, does not end the watch; a long
                # outage (MOC_OUTAGE_SECONDS) does.
                now = time.monotonic()
                first = unreachable_since is None
                unreachable_since = unreachable_since or now
                if exc.exit_code != UNREACHABLE or now - unreachable_since >= api.outage_seconds:
                    raise
                if first and bar.disable:  # no bar to show it on
                    reason = exc.outage or exc.message
                    click.echo(f"{reason}; waiting for up to {api.outage_seconds:g} s.", err=True)
                what = "the server's database" if "database" in exc.outage else "the server"
                bar.set_postfix_str(f"{_progress_text(job)} ({what} does not answer)")
    except KeyboardInterrupt:
        bar.close()
        click.echo(
            f"Stopped watching; the job goes on (`moc job cancel {job_uuid}` stops it).", err=True
        )
        return 130
    finally:
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


SORTS = ["-created", "created", "-duration", "duration", "status"]


@job_group.command("list")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False))
@click.option("--type", "job_type", type=click.Choice(list(JOB_TYPES), case_sensitive=False))
@click.option("--model", default="", metavar="UUID", help="Jobs of this model.")
@click.option("--user", default="", metavar="NAME", help="Jobs this user created.")
@click.option("--runtime", default="", metavar="NAME", help="Jobs of this runtime.")
@click.option(
    "--search",
    default="",
    metavar="TEXT",
    help="Jobs whose model, input name or user contains TEXT (as the web list's).",
)
@click.option("--sort", type=click.Choice(SORTS), default="-created", show_default=True,
              help="created, duration or status; a leading - for the reverse (newest, longest "
              "first).")  # fmt: skip
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@quiet_option()
@json_option
@pass_state
def job_list(state: State, status: str | None, job_type: str | None, model: str, user: str,
             runtime: str, search: str, sort: str, limit: int, quiet: bool,
             as_json: bool) -> None:  # fmt: skip
    """List jobs you may see, newest first unless --sort says otherwise."""
    params = {
        "q": search.strip(),
        "sort": "" if sort == "-created" else sort,
        "status": (status or "").upper(),
        "job_type": JOB_TYPES[job_type.lower()] if job_type else "",
        "model": model,
        "created_by": user,
        "runtime": runtime,
    }
    params = {k: v for k, v in params.items() if v}
    jobs = list(state.api().pages("/api/jobs/", params=params, limit=limit))
    if echo_list(jobs, as_json=as_json, quiet=quiet):
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


@job_group.command("rerun")
@uuid_argument("job_uuid")
@wait_options
@quiet_option("the new job's UUID")
@json_option
@pass_state
def job_rerun(state: State, job_uuid: str, wait: bool, progress: bool | None, quiet: bool,
              as_json: bool) -> None:  # fmt: skip
    """Run a job again, with the same snapshot, inputs and output. Prints the new job's UUID
    as the last word."""
    api = state.api()
    job = api.post(_job_path(job_uuid, "rerun/"), what=f"Job {job_uuid}")
    job_created(api, job, as_json=as_json, quiet=quiet, wait=wait, progress=progress)


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
