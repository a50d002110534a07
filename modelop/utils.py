"""Helpers ModelOp monitors call: a logger, and merging of monitor results."""

from __future__ import annotations

import logging
import sys
from typing import Any

# The keys of one test object (ModelOp's "Monitor Output Structure").
TEST_KEYS = ("test_name", "test_category", "test_type", "test_id", "values")


def configure_logger(name: str = "modelop", level: int = logging.INFO) -> logging.Logger:
    """A logger writing to stderr, which the job's log shows; configured once per name."""
    logger = logging.getLogger(name)
    if not any(getattr(h, "_modelop", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._modelop = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def merge(*dicts: dict) -> dict:
    """One result out of several: scalar keys of later dicts win, lists (the category arrays
    such as "data_drift" or "performance") are concatenated. A bare test object (a dict with
    "test_category" and "values") counts as {**its scalar values, category: [it]}."""
    merged: dict[str, Any] = {}
    for item in dicts:
        if not item:
            continue
        if not isinstance(item, dict):
            raise TypeError(f"merge takes dicts, not {type(item).__name__}")
        for key, value in as_result(item).items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = [*merged[key], *value]
            else:
                merged[key] = list(value) if isinstance(value, list) else value
    return merged


def as_result(item: dict) -> dict:
    if is_test(item):
        values = item["values"]
        flat = {}
        if isinstance(values, dict):
            flat = {k: v for k, v in values.items() if _scalar(v)}
        return {**flat, item["test_category"]: [dict(item)]}
    return dict(item)


def is_test(item: Any) -> bool:
    return isinstance(item, dict) and "test_category" in item and "values" in item


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)
