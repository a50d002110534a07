"""A scoring diff: two scoring jobs on the same input (a challenger and a champion), record by
record. How often they agree, their score distributions side by side, the records they
disagree on most, and the differences per segment of a chosen column.

Outputs can be large: each is streamed from storage in chunks (pandas for JSON lines and CSV,
pyarrow for Parquet) and at most SAMPLE_LIMIT records of each are read (the first ones, which
the result says), so memory and time stay bounded whatever the outputs' size. Records are
joined on a record id column when one is named (or found in both), else by their order.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jobs.models import Job, JobAsset, JobStatus, JobType

if TYPE_CHECKING:
    import pandas as pd

# numpy, pandas and pyarrow are imported where a diff is computed, not with this module: the
# URLconf imports it, and so every web and worker process (Celery's start checks load it),
# where they would hold over 100 MB for a page few open.

logger = logging.getLogger(__name__)

SAMPLE_LIMIT = 200_000  # records read from each output
CHUNK_ROWS = 20_000
HEAD_ROWS = 1000  # records read first, to find the columns
BINS = 20
TOP_DISAGREEMENTS = 20
SEGMENTS_SHOWN = 50
ID_NAMES = ("id", "record_id", "recordId", "uuid", "key", "customer_id", "row_id")
SCORE_NAMES = ("score", "probability", "prediction", "predicted", "proba", "label")


class DiffError(ValueError):
    """The two jobs cannot be diffed; the message says why, for a person."""


@dataclass
class Diff:
    a: Job
    b: Job
    score: str = ""
    key: str = ""  # "" when joined by record order
    segment: str = ""
    numeric: bool = True
    threshold: float = 0.5
    records: int = 0
    read_a: int = 0
    read_b: int = 0
    truncated: bool = False
    unmatched_a: int = 0
    unmatched_b: int = 0
    agreement: float | None = None
    mean_abs_difference: float | None = None
    correlation: float | None = None
    histogram: dict = field(default_factory=dict)  # {"edges": [...], "a": [...], "b": [...]}
    top: list[dict] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)
    segments_total: int = 0
    columns: list[str] = field(default_factory=list)  # common to both, for the forms
    same_input: bool = True
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "a": str(self.a.uuid),
            "b": str(self.b.uuid),
            "score_column": self.score,
            "key_column": self.key or None,
            "segment_column": self.segment or None,
            "numeric": self.numeric,
            "threshold": self.threshold if self.numeric else None,
            "records_compared": self.records,
            "records_read": {"a": self.read_a, "b": self.read_b},
            "sample_limit": SAMPLE_LIMIT,
            "truncated": self.truncated,
            "unmatched": {"a": self.unmatched_a, "b": self.unmatched_b},
            "agreement_rate": self.agreement,
            "mean_abs_difference": self.mean_abs_difference,
            "correlation": self.correlation,
            "histogram": self.histogram,
            "top_disagreements": self.top,
            "segments": self.segments,
            "same_input": self.same_input,
            "columns": self.columns,
            "notes": self.notes,
        }


def input_signature(job: Job) -> list[tuple]:
    """What a job read, to tell whether two jobs ran on the same input."""
    return [
        (
            a.kind,
            a.location,
            a.file.name if a.file else "",
            a.connection_id,
            hashlib.sha256(a.data.encode()).hexdigest() if a.data else "",
        )  # fmt: skip
        for a in job.input_assets()
    ]


def _frames(asset: JobAsset):
    """The output's records as DataFrames of at most CHUNK_ROWS rows, streamed."""
    import pandas as pd
    import pyarrow.parquet as pq

    handle = asset.file.open("rb")
    try:
        if asset.format == "parquet":
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=CHUNK_ROWS):
                yield batch.to_pandas()
        elif asset.format == "csv":
            yield from pd.read_csv(handle, chunksize=CHUNK_ROWS)
        elif asset.format == "json":
            raw = handle.read(64 * 1024 * 1024 + 1)
            if len(raw) > 64 * 1024 * 1024:
                raise DiffError("a JSON array output over 64 MB cannot be streamed; use JSON lines")
            data = json.loads(raw)
            yield pd.json_normalize(data if isinstance(data, list) else [data], max_level=0)
        else:  # JSON lines
            text = io.TextIOWrapper(handle, encoding="utf-8")
            yield from pd.read_json(
                text, lines=True, chunksize=CHUNK_ROWS, dtype=False, precise_float=True
            )
    finally:
        handle.close()


def _read(
    job: Job, side: str, *, columns: list[str] | None = None, limit: int | None = None
) -> tuple[pd.DataFrame, bool]:
    """The first LIMIT (SAMPLE_LIMIT) records of JOB's output, only COLUMNS of them when
    given (a chunk's other columns are dropped as it is read), and whether there were more."""
    import pandas as pd
    import pyarrow as pa

    limit = SAMPLE_LIMIT if limit is None else limit
    output = job.output_asset()
    if output is None or output.is_external or not output.file:
        where = f" (it was written to {output.location})" if output and output.is_external else ""
        raise DiffError(f"job {side} has no stored output file to read{where}")
    parts, count, more = [], 0, False
    try:
        for frame in _frames(output):
            if count >= limit:
                more = True
                break
            frame = frame.iloc[: limit - count]
            frame.columns = [str(c) for c in frame.columns]
            if columns is not None:
                frame = frame.reindex(columns=columns)
            parts.append(frame)
            count += len(frame)
    except FileNotFoundError as exc:
        raise DiffError(f"job {side}'s output file is missing from storage") from exc
    except (ValueError, UnicodeDecodeError, pa.ArrowException, OSError) as exc:
        if isinstance(exc, DiffError):
            raise
        raise DiffError(
            f"job {side}'s output ({output.name}, {output.format}) could not be read: "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from exc
    if not parts:
        raise DiffError(f"job {side}'s output has no records")
    return pd.concat(parts, ignore_index=True), more


def _pick(columns: list[str], wanted: str, names: tuple[str, ...], what: str) -> str:
    if wanted:
        if wanted not in columns:
            raise DiffError(
                f"the {what} column {wanted!r} is not in both outputs (they share: "
                f"{', '.join(columns[:20]) or 'no column'})"
            )
        return wanted
    lowered = {c.lower(): c for c in columns}
    return next((lowered[n.lower()] for n in names if n.lower() in lowered), "")


def _check(job: Job, side: str) -> None:
    if job.job_type != JobType.SCORING:
        raise DiffError(f"job {side} is a {job.get_job_type_display().lower()} job, not scoring")
    if job.status != JobStatus.COMPLETE:
        raise DiffError(f"job {side} is {job.get_status_display().lower()}, not complete")


def _number(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def scoring_diff(
    *, a: Job, b: Job, score: str = "", key: str = "", segment: str = "", threshold: float = 0.5
) -> Diff:
    """Job B against job A (e.g. challenger against champion). DiffError says why not."""
    import numpy as np
    import pandas as pd

    _check(a, "A")
    _check(b, "B")
    diff = Diff(a=a, b=b, threshold=threshold, same_input=input_signature(a) == input_signature(b))
    if not diff.same_input:
        diff.notes.append("The two jobs did not read the same input: records may not match.")
    # The columns, from the head of each output; then only the columns used are read.
    frame_a, _ = _read(a, "A", limit=HEAD_ROWS)
    frame_b, _ = _read(b, "B", limit=HEAD_ROWS)
    common = [c for c in frame_a.columns if c in set(frame_b.columns)]
    diff.columns = common
    diff.key = _pick(common, key, ID_NAMES, "record id")
    diff.score = _pick([c for c in common if c != diff.key], score, SCORE_NAMES, "score")
    if not diff.score:
        numeric = [
            c for c in common
            if c != diff.key and pd.api.types.is_numeric_dtype(frame_a[c])
            and pd.api.types.is_numeric_dtype(frame_b[c])
        ]  # fmt: skip
        if not numeric:
            raise DiffError(
                "no score column in both outputs: name one (they share: "
                f"{', '.join(common[:20]) or 'no column'})"
            )
        diff.score = numeric[0]
    diff.segment = _pick(common, segment, (), "segment") if segment else ""
    if diff.segment and diff.segment in (diff.score, diff.key):
        raise DiffError(f"segment by a column other than the score and the id ({segment!r})")

    keep = list(dict.fromkeys(c for c in (diff.key, diff.score, diff.segment) if c))
    left, more_a = _read(a, "A", columns=keep)
    right, more_b = _read(b, "B", columns=[c for c in keep if c != diff.segment])
    diff.read_a, diff.read_b, diff.truncated = len(left), len(right), more_a or more_b
    if diff.key:
        left = left.drop_duplicates(diff.key)
        right = right.drop_duplicates(diff.key)
        joined = left.merge(right, on=diff.key, how="inner", suffixes=("_a", "_b"))
        diff.unmatched_a, diff.unmatched_b = len(left) - len(joined), len(right) - len(joined)
    else:
        n = min(len(left), len(right))
        score = diff.score
        joined = pd.concat(
            [
                left.iloc[:n].reset_index(drop=True).rename(columns={score: f"{score}_a"}),
                right.iloc[:n].reset_index(drop=True).rename(columns={score: f"{score}_b"}),
            ],
            axis=1,
        )
        diff.unmatched_a, diff.unmatched_b = len(left) - n, len(right) - n
        joined.insert(0, "record", np.arange(1, n + 1))
    sa, sb = joined[f"{diff.score}_a"], joined[f"{diff.score}_b"]
    diff.records = len(joined)
    if not diff.records:
        raise DiffError(f"no record of A matches one of B on {diff.key!r}")
    na, nb = pd.to_numeric(sa, errors="coerce"), pd.to_numeric(sb, errors="coerce")
    # Numbers only when every score is a finite one (NaN or infinity: compared as text).
    diff.numeric = bool(np.isfinite(na).all() and np.isfinite(nb).all())
    if diff.numeric:
        binary = set(pd.unique(pd.concat([na, nb]))) <= {0, 1}
        decisions_agree = (na >= threshold) == (nb >= threshold)
        agree = (na == nb) if binary else decisions_agree
        gap = (nb - na).abs()
        diff.mean_abs_difference = _number(gap.mean())
        if na.std() and nb.std():
            diff.correlation = _number(na.corr(nb))
        _histogram(diff, na, nb)
    else:
        agree = sa.astype(str) == sb.astype(str)
        gap = (~agree).astype(float)
        counts_a, counts_b = sa.astype(str).value_counts(), sb.astype(str).value_counts()
        labels = list(dict.fromkeys([*counts_a.index[:BINS], *counts_b.index[:BINS]]))[:BINS]
        diff.histogram = {
            "labels": labels,
            "a": [int(counts_a.get(x, 0)) for x in labels],
            "b": [int(counts_b.get(x, 0)) for x in labels],
        }
    diff.agreement = float(agree.mean())
    order = gap.sort_values(ascending=False, kind="stable").index[:TOP_DISAGREEMENTS]
    id_column = diff.key or "record"
    for index in order:
        if agree[index] and (not diff.numeric or gap[index] <= 1e-12):
            break
        diff.top.append(
            {
                "record": _plain(joined.at[index, id_column]),
                "a": _plain(sa[index]),
                "b": _plain(sb[index]),
                "difference": _plain(gap[index]) if diff.numeric else None,
                "segment": _plain(joined.at[index, diff.segment]) if diff.segment else None,
            }
        )
    if diff.segment:
        _segments(diff, joined, agree, na, nb)
    return diff


def _histogram(diff: Diff, na: pd.Series, nb: pd.Series) -> None:
    import numpy as np

    lo, hi = float(min(na.min(), nb.min())), float(max(na.max(), nb.max()))
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, BINS + 1)
    diff.histogram = {
        "edges": [float(e) for e in edges],
        "a": [int(c) for c in np.histogram(na, bins=edges)[0]],
        "b": [int(c) for c in np.histogram(nb, bins=edges)[0]],
    }


def _segments(diff: Diff, joined: pd.DataFrame, agree, na, nb) -> None:
    import pandas as pd

    data = pd.DataFrame({"segment": joined[diff.segment].astype(str), "agree": agree.astype(float)})
    if diff.numeric:
        data["a"], data["b"] = na, nb
    groups = data.groupby("segment", sort=False)
    table = groups.agg(
        count=("agree", "size"),
        agreement=("agree", "mean"),
        **({"mean_a": ("a", "mean"), "mean_b": ("b", "mean")} if diff.numeric else {}),
    ).sort_values("count", ascending=False)
    diff.segments_total = len(table)
    for name, row in table.head(SEGMENTS_SHOWN).iterrows():
        item = {"segment": str(name)[:100], "count": int(row["count"]),
                "agreement_rate": float(row["agreement"])}  # fmt: skip
        if diff.numeric:
            item["mean_a"], item["mean_b"] = _number(row["mean_a"]), _number(row["mean_b"])
            item["mean_difference"] = (
                item["mean_b"] - item["mean_a"]
                if item["mean_a"] is not None and item["mean_b"] is not None
                else None
            )
        diff.segments.append(item)


def _plain(value):
    """A value for JSON and the page: numpy scalars as Python ones, NaN as None."""
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return value[:200]
    return value if isinstance(value, int | float | bool) or value is None else str(value)[:200]
