"""Options and arguments shared by the commands."""

from __future__ import annotations

import uuid as uuidlib

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")


def uuid_argument(name: str, metavar: str = "UUID"):
    def check(ctx, param, value: str) -> str:
        try:
            return str(uuidlib.UUID(value))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a UUID.") from None

    return click.argument(name, metavar=metavar, callback=check)
