"""Options and arguments shared by the commands."""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")


def uuid_argument(name: str, metavar: str = "UUID"):
    def check(ctx, param, value: str) -> str:
        try:
            return str(uuidlib.UUID(value))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a UUID.") from None

    return click.argument(name, metavar=metavar, callback=check)


existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def attach_option(help: str):
    return click.option(
        "-a", "--attach", "attachments", multiple=True, type=existing_file, help=help
    )


def quiet_option(what: str = "the UUIDs"):
    return click.option("-q", "--quiet", is_flag=True, help=f"Print only {what}.")


def wait_options(command):
    """--wait and --progress/--no-progress, for the commands that make a job."""
    command = click.option(
        "--progress/--no-progress",
        default=None,
        help="Show the progress bar of --wait (default: on a terminal).",
    )(command)
    return click.option(
        "--wait", is_flag=True, help="Watch the job until it ends; exit 1 unless it is COMPLETE."
    )(command)
