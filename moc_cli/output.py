"""Plain aligned tables and the small formatting helpers of the commands."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import click


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def echo_list(items: list[dict], *, as_json: bool, quiet: bool) -> bool:
    """Print ITEMS as --json or -q (their UUIDs) asked; False when neither was asked."""
    if as_json:
        echo_json(items)
    elif quiet:
        for item in items:
            click.echo(item["uuid"])
    return as_json or quiet


def table(rows: Iterable[Sequence], headers: Sequence[str], *, empty: str = "") -> None:
    rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not rows:
        if empty:
            click.echo(empty, err=True)
        return
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def when(value: str | None) -> str:
    """An ISO time from the API as "2026-11-26 14:11" (the server's time zone, UTC)."""
    if not value:
        return ""
    return value.replace("T", " ")[:16]


def count(value) -> str:
    return "" if value is None else f"{value:,}"


def seconds(value) -> str:
    if value is None:
        return ""
    value = float(value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def size(value) -> str:
    if value is None:
        return ""
    value = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def fields(pairs: Iterable[tuple[str, object]]) -> None:
    """Label: value lines, aligned, leaving out empty values."""
    pairs = [(k, v) for k, v in pairs if v not in (None, "", [], {})]
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        click.echo(f"{key + ':':<{width + 1}} {value}")


def short(value, *, limit: int = 120) -> str:
    """A metric value on one line: scalars as they are, a long list or table summarized."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if not isinstance(value, dict | list):
        return str(value)
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= limit:
        return text
    kind = "items" if isinstance(value, list) else "keys"
    return f"({len(value)} {kind}; --json shows them all)"
