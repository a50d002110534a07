"""VolumetricMonitor: how many records; with two frames, whether they match in number."""

from __future__ import annotations

from typing import Any

import pandas as pd

from modelop.monitors._common import MonitorResult, result, test_object


class VolumetricMonitor:
    """VolumetricMonitor(dataframe) or (df_1, df_2); also by the keywords dataframe=, or
    df_baseline= and df_sample= (ModelOp's own keyword names are not known)."""

    def __init__(
        self,
        df_1: pd.DataFrame | None = None,
        df_2: pd.DataFrame | None = None,
        *,
        dataframe: pd.DataFrame | None = None,
        df_baseline: pd.DataFrame | None = None,
        df_sample: pd.DataFrame | None = None,
        **_ignored: Any,
    ) -> None:
        first = next((f for f in (df_1, dataframe, df_baseline) if f is not None), None)
        second = df_2 if df_2 is not None else df_sample
        if first is None:
            first, second = second, None
        if first is None:
            raise ValueError("VolumetricMonitor needs a DataFrame")
        self.df_1, self.df_2 = first, second

    def count(self, result_wrapper_key: str = "volumetrics", **_ignored: Any) -> MonitorResult:
        if self.df_2 is None:
            values = {"record_count": len(self.df_1)}
            name, test_type = "Count", "count"
        else:
            n1, n2 = len(self.df_1), len(self.df_2)
            values = {
                "record_count_1": n1,
                "record_count_2": n2,
                "record_count_difference": n2 - n1,
                "identical_record_count": n1 == n2,
            }
            name, test_type = "Count Comparison", "count_comparison"
        test = test_object(name=name, category=result_wrapper_key, test_type=test_type,
                           values=values)  # fmt: skip
        return result(test, values, wrapper=result_wrapper_key)
