"""The wizard's look at a chosen input: its first rows with the types read, and an extended
Avro schema guessed from them (ModelOp's "role" and "dataClass" per field, as
modelop/schema/infer.py reads them), for a person to review and attach to the snapshot.

Read in the web process: this is our code reading data (bounded: the first rows only), never
model code.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# pandas and pyarrow are imported when a head is read, not with this module: the URLconf
# imports it, and so every web and worker process, where they would hold over 100 MB.

HEAD_ROWS = 10
_MAX_JSON_BYTES = 2 * 1024 * 1024
_MAX_LINE_BYTES = 1024 * 1024
_LABELS = {"label", "target", "y", "class", "outcome", "actual", "ground_truth"}
_SCORES = {"score", "prediction", "predicted", "probability", "proba"}
_IDS = {"id", "uuid", "key", "record_id"}


@dataclass
class InputHead:
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # Avro types, one per column
    rows: list[list[str]] = field(default_factory=list)
    error: str = ""


def _avro_type(dtype) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "long"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    return "string"


def _frame(handle, fmt: str, limit: int) -> pd.DataFrame:
    import pandas as pd
    import pyarrow.parquet as pq

    if fmt == "csv":
        return pd.read_csv(handle, nrows=limit)
    if fmt == "jsonl":
        records = []
        while len(records) < limit:
            line = handle.readline(_MAX_LINE_BYTES)
            if not line:
                break
            if line.strip():
                records.append(json.loads(line))
        return pd.DataFrame.from_records(records)
    if fmt == "json":
        raw = handle.read(_MAX_JSON_BYTES + 1)
        if len(raw) > _MAX_JSON_BYTES:
            raise ValueError("this JSON array is too large to preview")
        data = json.loads(raw)
        return pd.DataFrame.from_records((data if isinstance(data, list) else [data])[:limit])
    if fmt == "parquet":
        batch = next(pq.ParquetFile(handle).iter_batches(batch_size=limit), None)
        return batch.to_pandas() if batch is not None else pd.DataFrame()
    raise ValueError(f"no preview for the {fmt!r} format")


def input_head(*, fmt: str, data: str = "", file=None, limit: int = HEAD_ROWS) -> InputHead:
    """The first LIMIT records of pasted DATA or a stored FILE, with the Avro type of each
    column as pandas reads it; an InputHead whose error says why not."""
    import pandas as pd
    import pyarrow as pa

    try:
        if file is not None:
            with file.open("rb") as handle:
                frame = _frame(handle, fmt, limit)
        else:
            frame = _frame(io.BytesIO(data.encode()), fmt, limit)
    except (
        OSError,
        ValueError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pa.ArrowException,
    ) as exc:
        return InputHead(error=f"The input could not be read as {fmt or 'data'}: {exc}")
    if frame.empty and not len(frame.columns):
        return InputHead(error="The input has no records.")
    columns = [str(c) for c in frame.columns]
    types = [_avro_type(frame[c].dtype) for c in frame.columns]
    rows = [
        ["" if pd.isna(v) else str(v)[:120] for v in row]
        for row in frame.itertuples(index=False, name=None)
    ]
    return InputHead(columns=columns, types=types, rows=rows)


def _role(name: str) -> str:
    low = name.casefold()
    if low in _LABELS or low.endswith("_label"):
        return "label"
    if low in _SCORES or low.endswith("_score"):
        return "score"
    if low in _IDS or low.endswith("_id"):
        return "identifier"
    return "predictor"


def schema_guess(head: InputHead, *, name: str) -> dict:
    """An extended Avro record schema for HEAD's columns: nullable types, a guessed "role"
    (label, score, identifier by the column's name, else predictor) and "dataClass"
    (numerical for numbers, else categorical)."""
    record = re.sub(r"[^A-Za-z0-9_]", "_", name) or "input"
    if not re.match(r"[A-Za-z_]", record):
        record = f"r_{record}"
    fields = []
    for column, avro in zip(head.columns, head.types, strict=True):
        role = _role(column)
        fields.append(
            {
                "name": column,
                "type": ["null", avro],
                "role": role,
                "dataClass": "numerical" if avro in ("long", "double") else "categorical",
                **({"driftCandidate": True} if role == "predictor" else {}),
            }
        )
    return {"type": "record", "name": record, "fields": fields}
