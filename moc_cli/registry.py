"""`moc model ...`, `moc snapshot ...` and `moc runtime list`."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from moc_cli.context import State, pass_state
from moc_cli.options import attach_option, existing_file, json_option, quiet_option, uuid_argument
from moc_cli.output import echo_json, echo_list, fields, size, table, when


def _version(snapshot: dict | None) -> str:
    return f"v{snapshot['version']}" if snapshot else ""


def _snapshot_rows(snapshots: list[dict]):
    for s in snapshots:
        notes = (s.get("notes") or "").splitlines()
        yield [s["uuid"], _version(s), when(s.get("created_at")), s.get("created_by"),
               (notes[0][:50] if notes else "")]  # fmt: skip


SNAPSHOT_HEADERS = ["UUID", "VERSION", "CREATED", "BY", "NOTES"]


def _files(stack: ExitStack, source: Path, attachments: tuple[Path, ...]) -> list:
    files = [("source", (source.name, stack.enter_context(open(source, "rb"))))]
    for path in attachments:
        files.append(("attachments", (path.name, stack.enter_context(open(path, "rb")))))
    return files


# --- models ------------------------------------------------------------------------------------


@click.group("model")
def model_group() -> None:
    """Registered models."""


@model_group.command("list")
@click.option("--search", default="", help="Only models whose name, description or tags match.")
@quiet_option()
@json_option
@pass_state
def model_list(state: State, search: str, quiet: bool, as_json: bool) -> None:
    """List the models you may see."""
    models = list(state.api().pages("/api/models/", params={"search": search} if search else {}))
    if echo_list(models, as_json=as_json, quiet=quiet):
        return
    table(
        (
            [
                m["uuid"],
                m["name"],
                m.get("team"),
                _version(m.get("latest_snapshot")),
                _version(m.get("champion")),
                m.get("snapshot_count"),
                ", ".join(m.get("tags") or []),
            ]
            for m in models
        ),  # fmt: skip
        ["UUID", "NAME", "TEAM", "LATEST", "CHAMPION", "SNAPSHOTS", "TAGS"],
        empty="No models.",
    )


@model_group.command("show")
@uuid_argument("model_uuid")
@json_option
@pass_state
def model_show(state: State, model_uuid: str, as_json: bool) -> None:
    """Show a model, its snapshots and its champion's history."""
    api = state.api()
    model = api.get(f"/api/models/{model_uuid}/", what=f"Model {model_uuid}")
    if as_json:
        echo_json(model)
        return
    champion = model.get("champion")
    fields(
        [
            ("Model", model["uuid"]),
            ("Name", model["name"]),
            ("Description", model.get("description")),
            ("Team", model.get("team")),
            ("Owner", model.get("owner")),
            ("Tags", ", ".join(model.get("tags") or [])),
            ("Champion", f"{_version(champion)} {champion['uuid']}" if champion else
                         "none (jobs created by model run its newest snapshot)"),
            ("Created", when(model.get("created_at"))),
            ("Page", model.get("page_url") or model.get("url")),
        ]
    )  # fmt: skip
    click.echo()
    table(_snapshot_rows(model.get("snapshots") or []), SNAPSHOT_HEADERS, empty="No snapshots.")
    promotions = list(api.pages(f"/api/models/{model_uuid}/promotions/", limit=PROMOTIONS_SHOWN))
    if promotions:
        click.echo()
        table(_promotion_rows(promotions), PROMOTION_HEADERS)


PROMOTIONS_SHOWN = 10
PROMOTION_HEADERS = ["PROMOTED", "CHAMPION", "PREVIOUS", "BY", "FROM", "REASON"]


def _promotion_rows(promotions: list[dict]):
    for p in promotions:
        reason = (p.get("reason") or "").splitlines()
        yield [when(p.get("created_at")), _version(p.get("snapshot")) or "?",
               _version(p.get("previous")) or "none", p.get("promoted_by") or "system",
               p.get("source"), reason[0][:50] if reason else ""]  # fmt: skip


@model_group.command("promote")
@uuid_argument("snapshot_uuid", metavar="SNAPSHOT-UUID")
@click.option("--reason", default="", help="Why; kept in the champion's history.")
@json_option
@pass_state
def model_promote(state: State, snapshot_uuid: str, reason: str, as_json: bool) -> None:
    """Make a snapshot its model's champion: `moc job create ... MODEL-UUID` then runs it."""
    promotion = state.api().post(
        f"/api/snapshots/{snapshot_uuid}/promote/",
        json={"reason": reason, "source": "cli"},
        what=f"Snapshot {snapshot_uuid}",
    )
    if as_json:
        echo_json(promotion)
        return
    previous = promotion.get("previous")
    was = f" (was {_version(previous)})" if previous else " (it had none)"
    click.echo(
        f"{promotion['model']['name']} {_version(promotion['snapshot'])} is now the champion{was}."
    )


@model_group.command("create")
@click.argument("name")
@click.argument("source", type=existing_file)
@attach_option("A file the model needs (pickle, .avsc schema, ...); repeat as needed.")
@click.option("--description", default="")
@click.option("--team", default="", help="Your team that owns it (default: your only team).")
@click.option("--tags", default="", help="Comma-separated tags.")
@click.option("--notes", default="", help="Notes of its first snapshot.")
@click.option("--runtime-tags", default="", help="Comma-separated tags a runtime must have.")
@json_option
@pass_state
def model_create(state: State, name: str, source: Path, attachments: tuple[Path, ...],
                 description: str, team: str, tags: str, notes: str, runtime_tags: str,
                 as_json: bool) -> None:  # fmt: skip
    """Register a model from its SOURCE .py file: its first snapshot is v1. Prints the model
    UUID as the last word."""
    data = {"name": name, "description": description, "team": team, "tags": tags,
            "notes": notes, "runtime_tags": runtime_tags}  # fmt: skip
    with ExitStack() as stack:
        model = state.api().post(
            "/api/models/",
            data={k: v for k, v in data.items() if v},
            files=_files(stack, source, attachments),
        )
    if as_json:
        echo_json(model)
        return
    snapshots = model.get("snapshots") or []
    first = f" with snapshot v1 {snapshots[0]['uuid']}" if snapshots else ""
    click.echo(f"Created model {model['name']}{first}.")
    click.echo(f"Model {model['uuid']}")


# --- snapshots ---------------------------------------------------------------------------------


@click.group("snapshot")
def snapshot_group() -> None:
    """Snapshots: the immutable versions of a model."""


@snapshot_group.command("list")
@uuid_argument("model_uuid", metavar="MODEL-UUID")
@json_option
@pass_state
def snapshot_list(state: State, model_uuid: str, as_json: bool) -> None:
    """List a model's snapshots, newest first."""
    snapshots = list(
        state.api().pages(f"/api/models/{model_uuid}/snapshots/", what=f"Model {model_uuid}")
    )
    if as_json:
        echo_json(snapshots)
        return
    table(_snapshot_rows(snapshots), SNAPSHOT_HEADERS, empty="No snapshots.")


@snapshot_group.command("show")
@uuid_argument("snapshot_uuid")
@json_option
@pass_state
def snapshot_show(state: State, snapshot_uuid: str, as_json: bool) -> None:
    """Show a snapshot: its functions, schemas and attachments."""
    s = state.api().get(f"/api/snapshots/{snapshot_uuid}/", what=f"Snapshot {snapshot_uuid}")
    if as_json:
        echo_json(s)
        return
    attachments = [f"{a['name']} ({size(a.get('size'))})" for a in s.get("attachments") or []]
    schemas = [x if isinstance(x, str) else x.get("name", str(x)) for x in s.get("schemas") or []]
    fields(
        [
            ("Snapshot", s["uuid"]),
            ("Model", f"{s['model']['name']} {s['model']['uuid']}"),
            ("Version", _version(s)),
            ("Source", s.get("source_name")),
            ("Functions", ", ".join(s.get("functions") or [])),
            ("Schemas", ", ".join(schemas)),
            ("Attachments", ", ".join(attachments)),
            ("Runtime tags", ", ".join(s.get("runtime_tags") or [])),
            ("Created", f"{when(s.get('created_at'))} by {s.get('created_by')}"),
            ("Made by job", s.get("training_job")),
            ("Notes", s.get("notes")),
        ]
    )


@snapshot_group.command("create")
@uuid_argument("model_uuid", metavar="MODEL-UUID")
@click.argument("source", type=existing_file)
@attach_option("A file the model needs; repeat as needed.")
@click.option("--notes", default="")
@click.option("--runtime-tags", default="", help="Comma-separated tags a runtime must have.")
@json_option
@pass_state
def snapshot_create(state: State, model_uuid: str, source: Path, attachments: tuple[Path, ...],
                    notes: str, runtime_tags: str, as_json: bool) -> None:  # fmt: skip
    """Add a snapshot (a new version) to a model. Prints its UUID as the last word."""
    data = {k: v for k, v in {"notes": notes, "runtime_tags": runtime_tags}.items() if v}
    with ExitStack() as stack:
        snapshot = state.api().post(
            f"/api/models/{model_uuid}/snapshots/",
            data=data,
            files=_files(stack, source, attachments),
            what=f"Model {model_uuid}",
        )
    if as_json:
        echo_json(snapshot)
        return
    click.echo(f"Created snapshot {_version(snapshot)} {snapshot['uuid']}")


# --- runtimes ----------------------------------------------------------------------------------


@click.group("runtime")
def runtime_group() -> None:
    """Runtimes: the queues and workers that run jobs."""


@runtime_group.command("list")
@json_option
@pass_state
def runtime_list(state: State, as_json: bool) -> None:
    """List runtimes with their health, workers and load."""
    runtimes = list(state.api().pages("/api/runtimes/"))
    if as_json:
        echo_json(runtimes)
        return
    table(
        (
            [
                r["name"] + (" *" if r.get("is_default") else ""),
                r.get("health"),
                len(r.get("workers") or []),
                r.get("running_jobs"),
                r.get("waiting_jobs"),
                ", ".join(r.get("tags") or []),
                r.get("queue"),
            ]
            for r in runtimes
        ),  # fmt: skip
        ["NAME", "HEALTH", "WORKERS", "RUNNING", "WAITING", "TAGS", "QUEUE"],
        empty="No runtimes.",
    )
    if any(r.get("is_default") for r in runtimes):
        click.echo("* the default runtime")
