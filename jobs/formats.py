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


def format_from_name(name: str, default: str | None = "jsonl") -> str | None:
    lowered = name.lower()
    for suffix, fmt in _BY_SUFFIX.items():
        if lowered.endswith(suffix):
            return fmt
    return default


def format_for_file(name: str, chosen: str, *, asset: str) -> str:
    """The format of one file of an external asset: the one a person CHOSE for the asset,
    else the file's extension. ValueError, for people, when neither says."""
    if chosen:
        return chosen
    found = format_from_name(name, default=None)
    if found is None:
        suffix = name.rsplit(".", 1)[-1] if "." in name.rsplit("/", 1)[-1] else ""
        what = f"extension '.{suffix}'" if suffix else "no extension"
        raise ValueError(
            f"{asset}: unknown format ({what} in {name!r}); set the input's format to one of "
            f"{', '.join(FORMATS)}"
        )
    return found
