"""SHAP values through the model's own score function (shap.KernelExplainer, model-agnostic).

Only numerical predictors are explained (KernelExplainer mixes rows arithmetically); the other
columns a score function may read are held at the first explained row's values. The cost is
explained rows x coalitions x background rows model evaluations, so all three are bounded,
and explaining stops after SHAP_SECONDS with the rows done so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from jobs.runner.evaluation.values import native

SHAP_ROWS = 100  # explained rows (job parameter shap_rows)
BACKGROUND_ROWS = 50
MAX_SAMPLES = 2048  # coalitions per explained row, at most
EVALUATIONS = 250_000  # model evaluations (rows scored), in all
SHAP_SECONDS = 60.0  # job parameter shap_seconds
CHUNK_ROWS = 10  # rows explained per KernelExplainer call, between time checks


class _OutOfTime(Exception):
    pass


def shap_importance(
    frame: pd.DataFrame,
    *,
    predict_score: Callable[[pd.DataFrame], pd.Series],
    predictors: list[str],
    rows: int = SHAP_ROWS,
    seconds: float = SHAP_SECONDS,
    seed: int = 0,
) -> dict:
    """Mean |SHAP| per numerical predictor of PREDICT_SCORE (one number per row, in order),
    or {"skipped": why}."""
    numeric = [p for p in predictors if _numeric(frame[p])]
    if not numeric:
        return {"skipped": "no numerical predictor to explain"}
    if rows <= 0:
        return {"skipped": "shap_rows is 0"}
    import shap  # here, not at import: it takes seconds and only this needs it

    rng = np.random.default_rng(seed)
    frame = frame.reset_index(drop=True)
    background = frame.iloc[_pick(rng, len(frame), BACKGROUND_ROWS)]
    explained = frame.iloc[_pick(rng, len(frame), rows)].reset_index(drop=True)
    template = explained.iloc[[0]]
    deadline = time.monotonic() + seconds

    def model(matrix: np.ndarray) -> np.ndarray:
        if time.monotonic() > deadline:
            raise _OutOfTime
        rows_in = pd.concat([template] * len(matrix), ignore_index=True)
        for index, column in enumerate(numeric):
            rows_in[column] = matrix[:, index]
        scores = pd.to_numeric(pd.Series(list(predict_score(rows_in))), errors="raise")
        if len(scores) != len(matrix):
            raise ValueError(f"{len(scores)} scores for {len(matrix)} rows")
        return scores.to_numpy(dtype=float)

    data = explained[numeric].to_numpy(dtype=float)
    base = background[numeric].to_numpy(dtype=float)
    coalitions = max(2 * len(numeric) + 2, EVALUATIONS // max(1, len(data) * len(base)))
    samples = min(MAX_SAMPLES, coalitions)
    started = time.monotonic()
    try:
        explainer = shap.KernelExplainer(model, base, seed=seed)
    except _OutOfTime:
        return {"skipped": f"the background took longer than {seconds:g} s to score"}
    except Exception as exc:  # the score function failed or gave no numbers
        return {"skipped": f"the score function gives no numeric score: {_describe(exc)}"}
    values: list[np.ndarray] = []
    note = ""
    for start in range(0, len(data), CHUNK_ROWS):
        try:
            part = explainer.shap_values(
                data[start : start + CHUNK_ROWS], nsamples=samples, silent=True
            )
        except _OutOfTime:
            note = f"stopped after {seconds:g} s"
            break
        except Exception as exc:
            return {"skipped": f"SHAP failed: {_describe(exc)}"}
        values.append(np.asarray(part).reshape(-1, len(numeric)))
    if not values:
        return {"skipped": f"no row explained within {seconds:g} s"}
    matrix = np.concatenate(values)
    mean_abs = np.abs(matrix).mean(axis=0)
    importance = sorted(
        ({"feature": f, "mean_abs_shap": float(v)} for f, v in zip(numeric, mean_abs, strict=True)),
        key=lambda item: item["mean_abs_shap"],
        reverse=True,
    )
    result = {
        "method": "kernel",
        "feature_importance": importance,
        "rows_explained": len(matrix),
        "background_rows": len(base),
        "samples_per_row": samples,
        "expected_value": float(np.ravel(explainer.expected_value)[0]),
        "seconds": round(time.monotonic() - started, 3),
    }
    skipped = [p for p in predictors if p not in numeric]
    if skipped:
        result["not_explained"] = skipped
    if note:
        result["note"] = note
    return native(result)


def _pick(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=k, replace=False)) if n > k else np.arange(n)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
