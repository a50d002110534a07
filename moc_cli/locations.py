"""What `moc job create` makes of its <input> and <output> words.

- `s3://bucket/key-or-prefix/`, `hdfs://namenode/path`: data on a connection (--connection NAME,
  optional when the user may use exactly one connection of that kind);
- `sql:SELECT ...` or `sql:NAME:SELECT ...` (input: a query on connection NAME), and
  `sql:TABLE` or `sql:NAME:TABLE` (output: a table);
- anything else: a local file; an input file is uploaded (or embedded with --embed), an output
  name such as `scores.jsonl` keeps the output with the job in that format.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from jobs.formats import FORMATS, format_from_name

# A connection name is one word before a colon; a query never starts that way (its first
# word, SELECT or WITH, is followed by a space), nor does a table name.
_SQL = re.compile(r"^sql:(?:(?P<connection>[\w.-]+):)?(?P<rest>.*)$", re.DOTALL | re.IGNORECASE)
EXTERNAL = ("s3://", "hdfs://")


def _external_kind(text: str) -> str | None:
    lowered = text.lower()
    for prefix in EXTERNAL:
        if lowered.startswith(prefix):
            return prefix[:-3]
    return None


def _sql(text: str, *, what: str, connection: str) -> tuple[str, str]:
    match = _SQL.match(text)
    rest = match["rest"].strip() if match else ""
    if not rest:
        example = "sql:SELECT * FROM loans" if what == "input" else "sql:scores"
        raise click.BadParameter(
            f"{text!r} says nothing after 'sql:'; write it like {example} "
            f"(or sql:CONNECTION:... to name the connection).",
            param_hint=f"<{what}>",
        )
    return match["connection"] or connection, rest


def input_spec(text: str, *, connection: str = "", fmt: str = "", embed: bool = False):
    """The API's input object for TEXT, or a local Path to upload first."""
    kind = _external_kind(text)
    if kind:
        spec = {"kind": kind, "location": text}
    elif text.lower().startswith("sql:"):
        name, query = _sql(text, what="input", connection=connection)
        spec = {"kind": "sql", "query": query}
        connection = name
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise click.BadParameter(
                f"no file {text!r}. Give a local file, an s3:// or hdfs:// location, "
                f"or sql:SELECT ...",
                param_hint="<input>",
            )
        if not embed:
            return path
        try:
            data = path.read_text()
        except UnicodeDecodeError as exc:
            raise click.BadParameter(
                f"{text!r} is not text, so it cannot be embedded; leave out --embed to upload it.",
                param_hint="<input>",
            ) from exc
        spec = {"kind": "embedded", "data": data, "name": path.name}
        fmt = fmt or format_from_name(path.name) or ""
    if connection and spec["kind"] in ("s3", "hdfs", "sql"):
        spec["connection"] = connection
    if fmt:
        spec["format"] = fmt
    return spec


def output_spec(text: str, *, connection: str = "", fmt: str = "", write_mode: str = "") -> dict:
    kind = _external_kind(text)
    if kind:
        spec = {"kind": kind, "location": text}
    elif text.lower().startswith("sql:"):
        name, table = _sql(text, what="output", connection=connection)
        spec = {"kind": "sql", "location": table}
        connection = name
    else:
        name = Path(text).name
        fmt = fmt or format_from_name(name, default=None) or ""
        if not name or not fmt:
            raise click.BadParameter(
                f"cannot tell the output format from {text!r}: end the name with .jsonl, "
                f".json, .csv or .parquet, or pass --output-format ({', '.join(FORMATS)}).",
                param_hint="<output>",
            )
        return {"kind": "embedded", "name": name, "format": fmt}
    if connection:
        spec["connection"] = connection
    if fmt:
        spec["format"] = fmt
    if write_mode:
        spec["write_mode"] = write_mode
    return spec
