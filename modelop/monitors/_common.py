"""What the monitors share: results, test objects, columns from the job JSON."""

from __future__ import annotations

from typing import Any

import pandas as pd

from jobs.runner.evaluation.values import native
from modelop.schema.infer import monitoring_parameters
from modelop.utils import TEST_KEYS


class MonitorResult(dict):
    """Flat keys and category arrays; the keys of a test object (values, test_name, ...) not
    among them are answered by the single test it holds, for monitors that expect a bare
    test object back."""

    def __missing__(self, key: str) -> Any:
        if key in TEST_KEYS:
            tests = [t for v in self.values() if isinstance(v, list) for t in v]
            if len(tests) == 1 and isinstance(tests[0], dict) and key in tests[0]:
                return tests[0][key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def test_object(*, name: str, category: str, test_type: str, values: Any, **extra: Any) -> dict:
    return native(
        {
            "test_name": name,
            "test_category": category,
            "test_type": test_type,
            "test_id": f"{category}_{test_type}",
            "values": values,
            **extra,
        }
    )


def result(test: dict, flat: dict | None = None, *, wrapper: str | None = None) -> MonitorResult:
    return MonitorResult({**native(flat or {}), wrapper or test["test_category"]: [test]})


def columns(job_json: Any, given: dict[str, Any]) -> dict[str, Any]:
    """GIVEN (the keyword arguments a monitor got), with every one left None taken from the
    job JSON's input schema."""
    if job_json is None or all(v is not None for v in given.values()):
        return dict(given)
    inferred = monitoring_parameters(job_json)
    return {k: inferred.get(k) if v is None else v for k, v in given.items()}


def require(frame: pd.DataFrame, column: str | None, what: str, where: str) -> str:
    if not column:
        raise ValueError(
            f"no {what}: pass {what}= or a job_json whose input schema gives one a role"
        )
    if column not in frame.columns:
        raise ValueError(f"the {what} '{column}' is not a column of the {where}")
    return column
