"""How much of a metrics job's results is kept with the job (Job.metrics).

Job.metrics is whatever the model's metrics function yielded, and it is loaded with the job
on every visit of its page, so its size is bounded by METRICS_MAX_BYTES (as JSON). The job's
output file keeps every metric in full; what is kept with the job is, in order of preference:
all of it; all of it with long curves downsampled; the smallest values that fit, with a note
(OMITTED_KEY) naming what was left out.
"""

from __future__ import annotations

import json

from django.conf import settings

from jobs.plots import CURVE_MAX_POINTS, downsample

OMITTED_KEY = "metrics_omitted"
CURVE_KEYS = {"roc_curve": ("fpr", "tpr"), "precision_recall_curve": ("recall", "precision")}
SETS_KEPT = 100  # metric dicts kept; a job that yields more keeps the first ones
NAMES_LISTED = 20  # omitted keys named in the note, each cut to NAME_CHARS
NAME_CHARS = 100


def _size(value: object) -> int:
    return len(json.dumps(value, default=str).encode())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _curve_downsampled(curve: object, x_key: str, y_key: str) -> object:
    """CURVE (a list of {x, y} dicts, or {x: [...], y: [...]} columns) with at most
    CURVE_MAX_POINTS points; anything of another shape as it is."""
    if isinstance(curve, dict) and isinstance(curve.get(x_key), list):
        xs, ys = curve[x_key], curve.get(y_key)
        if not isinstance(ys, list) or len(xs) != len(ys) or len(xs) <= CURVE_MAX_POINTS:
            return curve
        if not all(_is_number(v) for v in (*xs, *ys)):
            return curve
        points = downsample(list(zip(xs, ys, strict=True)))
        return {**curve, x_key: [x for x, _ in points], y_key: [y for _, y in points]}
    if not isinstance(curve, list) or len(curve) <= CURVE_MAX_POINTS:
        return curve
    if not all(
        isinstance(p, dict) and _is_number(p.get(x_key)) and _is_number(p.get(y_key)) for p in curve
    ):
        return curve
    # Downsample indices, so each kept point keeps its other keys (e.g. the threshold).
    indexed = downsample([(p[x_key], p[y_key], i) for i, p in enumerate(curve)])
    return [curve[point[2]] for point in indexed]


def _with_curves_downsampled(metrics: dict) -> dict:
    return {
        key: _curve_downsampled(value, *CURVE_KEYS[key]) if key in CURVE_KEYS else value
        for key, value in metrics.items()
    }


def _note(omitted: dict[str, int], limit: int) -> dict:
    names = sorted(omitted, key=omitted.get, reverse=True)
    listed = {name[:NAME_CHARS]: omitted[name] for name in names[:NAMES_LISTED]}
    return {
        "reason": f"too large to keep with the job (limit {limit:,} bytes of JSON); "
        "the job's output file has them",
        "bytes": listed,
        "more": max(len(names) - NAMES_LISTED, 0),
    }


def metrics_fit(metrics: list[dict], *, limit: int | None = None) -> tuple[list[dict], str]:
    """METRICS (the dicts a metrics job yielded) as they may be kept with the job, and a
    sentence for the job's log when anything was downsampled or left out ("" when not)."""
    limit = limit or settings.METRICS_MAX_BYTES
    size = _size(metrics)
    if size <= limit:
        return metrics, ""
    dicts = [_with_curves_downsampled(m) for m in metrics[:SETS_KEPT]]
    dropped_sets = max(len(metrics) - SETS_KEPT, 0)
    said = f"the metrics are {size:,} bytes of JSON, more than METRICS_MAX_BYTES ({limit:,})"
    if not dropped_sets and _size(dicts) <= limit:
        return dicts, f"{said}: curves were downsampled to {CURVE_MAX_POINTS:,} points"

    # The smallest values first, across all sets, while they fit (with room for the notes).
    budget = limit - limit // 8
    items = sorted(
        (_size(key) + _size(value) + 2, index, key)
        for index, m in enumerate(dicts)
        for key, value in m.items()
    )
    kept: list[dict] = [{} for _ in dicts]
    omitted: list[dict[str, int]] = [{} for _ in dicts]
    used = 2 + 3 * len(dicts)
    for item_size, index, key in items:
        if used + item_size <= budget:
            kept[index][key] = dicts[index][key]
            used += item_size
        else:
            omitted[index][key] = item_size
    for index, m in enumerate(kept):
        if omitted[index]:
            m[OMITTED_KEY] = _note(omitted[index], limit)
    if dropped_sets:
        kept[-1].setdefault(OMITTED_KEY, _note({}, limit))["sets"] = dropped_sets
    if _size(kept) > limit:  # the notes themselves did not fit: keep a note alone
        kept = [{OMITTED_KEY: {**_note({}, limit), "bytes_total": size}}]
    names = sorted({name[:NAME_CHARS] for o in omitted for name in o})
    left_out = ", ".join(names[:NAMES_LISTED]) + (" …" if len(names) > NAMES_LISTED else "")
    extra = f"; {dropped_sets:,} more metric sets" if dropped_sets else ""
    return kept, f"{said}: kept without {left_out or 'nothing'}{extra} (the output file has all)"
