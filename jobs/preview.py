"""The first records of a job's output, for the job page.

Output files can be many gigabytes, so each reader stops after the head: JSON lines and CSV
read line by line, Parquet reads one batch of the first row group. A JSON array cannot be
read partially without a streaming parser, so only small ones are previewed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from jobs.models import JobAsset

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 20
MAX_LINE_BYTES = 1024 * 1024
MAX_JSON_ARRAY_BYTES = 2 * 1024 * 1024
MAX_CELL_CHARS = 120


@dataclass
class Preview:
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    error: str = ""


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _table(records: list[Any]) -> Preview:
    """Records as a table: dict keys become columns (in first-seen order); a record that is
    not a dict (a list or a scalar, which score functions may yield) fills a "value" column."""
    columns: list[str] = []
    for record in records:
        for key in record if isinstance(record, dict) else ["value"]:
            if key not in columns:
                columns.append(key)
    rows = []
    for record in records:
        as_dict = record if isinstance(record, dict) else {"value": record}
        rows.append([_cell(as_dict[c]) if c in as_dict else "" for c in columns])
    return Preview(columns=[str(c) for c in columns], rows=rows)


def _jsonl_head(handle, limit: int) -> Preview:
    records = []
    while len(records) < limit:
        line = handle.readline(MAX_LINE_BYTES)
        if not line:
            break
        if line.strip():
            records.append(json.loads(line))
    return _table(records)


def _json_head(handle, limit: int) -> Preview:
    raw = handle.read(MAX_JSON_ARRAY_BYTES + 1)
    if len(raw) > MAX_JSON_ARRAY_BYTES:
        return Preview(error="This JSON array is too large to preview; download it instead.")
    data = json.loads(raw)
    return _table((data if isinstance(data, list) else [data])[:limit])


def _csv_head(handle, limit: int) -> Preview:
    reader = csv.reader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
    header = next(reader, [])
    rows = [[_cell(v) for v in row] for _, row in zip(range(limit), reader, strict=False)]
    return Preview(columns=header, rows=rows)


def _parquet_head(handle, limit: int) -> Preview:
    # Imported here: the web and worker processes need pyarrow (and its 100 MB of memory)
    # only to preview a Parquet file.
    import pyarrow.parquet as pq

    batch = next(pq.ParquetFile(handle).iter_batches(batch_size=limit), None)
    return _table(batch.to_pylist() if batch is not None else [])


def arrow_errors() -> tuple[type[Exception], ...]:
    """pyarrow's errors, once a reader has imported it (before that none can be raised)."""
    pa = sys.modules.get("pyarrow")
    return (pa.ArrowException,) if pa is not None else ()


READERS = {"jsonl": _jsonl_head, "json": _json_head, "csv": _csv_head, "parquet": _parquet_head}


def asset_preview(asset: JobAsset, *, limit: int = PREVIEW_ROWS) -> Preview:
    """The head of ASSET's file as a table, or a Preview whose error says why not."""
    if asset.is_external:  # reading it back would reach out to another system
        return Preview(error=f"Output written to {asset.location}; it is not previewed here.")
    if not asset.file:
        return Preview(error="The output file is not available.")
    reader = READERS.get(asset.format)
    if reader is None:
        return Preview(error=f"No preview for the {asset.format!r} format.")
    try:
        with asset.file.open("rb") as handle:
            return reader(handle, limit)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error, *arrow_errors()) as exc:
        logger.info("no preview for asset %s: %s", asset.uuid, exc)
        return Preview(error=f"The output could not be previewed ({exc.__class__.__name__}).")


REJECTS_SHOWN = 10


@dataclass
class Reject:
    direction: str  # "input" or "output"
    record: int | None
    line: int | None
    asset: str
    reason: str


def rejects_head(asset: JobAsset, *, limit: int = REJECTS_SHOWN) -> list[Reject]:
    """The first rejected records of ASSET's rejects file (direction, number, reason), read
    line by line: the file holds every reject, with its data, and can be large."""
    if not asset.rejects_file:
        return []
    found: list[Reject] = []
    try:
        with asset.rejects_file.open("rb") as f:
            for raw in f:
                if len(found) >= limit:
                    break
                if len(raw) > MAX_LINE_BYTES:
                    continue  # a giant rejected record: its reason is in the file
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(entry, dict):
                    continue
                found.append(
                    Reject(
                        direction=str(entry.get("direction", "")),
                        record=entry.get("record")
                        if isinstance(entry.get("record"), int)
                        else None,
                        line=entry.get("line") if isinstance(entry.get("line"), int) else None,
                        asset=str(entry.get("asset", "")),
                        reason=str(entry.get("reason", ""))[:1000],
                    )
                )
    except OSError:
        logger.exception("could not read the rejects file of asset %s", asset.uuid)
    return found
