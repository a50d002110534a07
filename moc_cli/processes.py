"""`moc process list|show|run|runs` and `moc run approve|show|retry` (MLC process runs)."""

from __future__ import annotations

import click

from moc_cli.context import State, pass_state
from moc_cli.options import json_option, quiet_option, uuid_argument
from moc_cli.output import echo_json, echo_list, fields, table, when

RUN_HEADERS = ["UUID", "STATUS", "TRIGGER", "STARTED", "REASON"]


def _run_rows(runs: list[dict]):
    for r in runs:
        yield [r["uuid"], r["status"], r.get("trigger_kind"), when(r.get("created_at")),
               (r.get("reason") or "")[:80]]  # fmt: skip


def _run_show(run: dict) -> None:
    fields(
        [
            ("Run", run["uuid"]),
            ("Process", f"{run.get('process_name')} {run.get('process')}"),
            ("Status", run["status"]),
            ("Trigger", run.get("trigger_kind")),
            ("Started", when(run.get("created_at"))),
            ("Finished", when(run.get("finished_at"))),
            ("Reason", run.get("reason")),
        ]
    )
    click.echo()
    rows = []
    for s in run.get("steps") or []:
        detail = s.get("reason") or ""
        if s.get("approver"):
            detail = f"approved by {s['approver']}"
        rows.append([s["bpmn_id"], s["status"], s.get("job") or "", detail[:80]])
    table(rows, ["STEP", "STATUS", "JOB", "DETAIL"], empty="No step has started yet.")


@click.group("process")
def process_group() -> None:
    """MLC processes: retrain, gate, promote and score without a person in the loop."""


@process_group.command("list")
@quiet_option()
@json_option
@pass_state
def process_list(state: State, quiet: bool, as_json: bool) -> None:
    """List the processes of your teams."""
    processes = list(state.api().pages("/api/processes/"))
    if echo_list(processes, as_json=as_json, quiet=quiet):
        return
    table(
        ([p["uuid"], p["name"], p.get("template"), p.get("team"), "yes" if p.get("enabled") else
          "no"] for p in processes),
        ["UUID", "NAME", "TEMPLATE", "TEAM", "ENABLED"],
        empty="No processes.",
    )  # fmt: skip


@process_group.command("show")
@uuid_argument("process_uuid")
@json_option
@pass_state
def process_show(state: State, process_uuid: str, as_json: bool) -> None:
    """Show a process: its triggers and steps."""
    process = state.api().get(f"/api/processes/{process_uuid}/", what=f"Process {process_uuid}")
    if as_json:
        echo_json(process)
        return
    fields(
        [
            ("Process", process["uuid"]),
            ("Name", process["name"]),
            ("Template", process.get("template")),
            ("Team", process.get("team")),
            ("Model", process.get("model")),
            ("Triggers", ", ".join(t["kind"] for t in process.get("triggers") or [])),
        ]
    )
    click.echo()
    steps = process.get("steps") or {}
    # In the flow's order (a JSON object's key order is not to be relied on).
    order = [i for i in process.get("step_order") or [] if i in steps]
    order += [i for i in steps if i not in order]
    table(
        ([step_id, steps[step_id].get("kind"),
          steps[step_id].get("job_type") or ", ".join(steps[step_id].get("rules") or [])]
         for step_id in order),
        ["STEP", "KIND", "DETAIL"],
        empty="No steps.",
    )  # fmt: skip


@process_group.command("run")
@uuid_argument("process_uuid")
@json_option
@pass_state
def process_run(state: State, process_uuid: str, as_json: bool) -> None:
    """Run a process now; prints the run's uuid."""
    run = state.api().post(f"/api/processes/{process_uuid}/runs/", what=f"Process {process_uuid}")
    if as_json:
        echo_json(run)
        return
    click.echo(f"Run {run['uuid']} started.")


@process_group.command("runs")
@uuid_argument("process_uuid")
@quiet_option()
@json_option
@pass_state
def process_runs(state: State, process_uuid: str, quiet: bool, as_json: bool) -> None:
    """List a process's runs, newest first."""
    runs = list(state.api().pages(f"/api/processes/{process_uuid}/runs/", limit=50))
    if echo_list(runs, as_json=as_json, quiet=quiet):
        return
    table(_run_rows(runs), RUN_HEADERS, empty="No runs.")


@click.group("run")
def run_group() -> None:
    """Runs of MLC processes."""


@run_group.command("show")
@uuid_argument("run_uuid")
@json_option
@pass_state
def run_show(state: State, run_uuid: str, as_json: bool) -> None:
    """Show a run and its steps."""
    run = state.api().get(f"/api/process-runs/{run_uuid}/", what=f"Run {run_uuid}")
    if as_json:
        echo_json(run)
    else:
        _run_show(run)


@run_group.command("approve")
@uuid_argument("run_uuid")
@json_option
@pass_state
def run_approve(state: State, run_uuid: str, as_json: bool) -> None:
    """Approve the step a run waits on."""
    run = state.api().post(f"/api/process-runs/{run_uuid}/approve/", what=f"Run {run_uuid}")
    if as_json:
        echo_json(run)
    else:
        click.echo(f"Run {run['uuid']} approved; it goes on.")


@run_group.command("retry")
@uuid_argument("run_uuid")
@json_option
@pass_state
def run_retry(state: State, run_uuid: str, as_json: bool) -> None:
    """Start a failed run again from its failed step."""
    run = state.api().post(f"/api/process-runs/{run_uuid}/retry/", what=f"Run {run_uuid}")
    if as_json:
        echo_json(run)
    else:
        click.echo(f"Run {run['uuid']} starts again from its failed step.")
