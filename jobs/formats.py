"""File formats of assets. No Django here: the executor child imports it."""

from __future__ import annotations

FORMATS = ("jsonl", "json", "csv", "parquet")

_BY_SUFFIX = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    # ModelOp's ".json" inputs are usually one record per line; a file that starts with "["
    # is read as a JSON array by the jsonl reader, so ".json" maps to jsonl.
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def format_from_name(name: str, default: str = "jsonl") -> str:
    lowered = name.lower()
    for suffix, fmt in _BY_SUFFIX.items():
        if lowered.endswith(suffix):
            return fmt
    return default
