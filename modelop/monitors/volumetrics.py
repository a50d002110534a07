"""VolumetricMonitor: how many records; with two frames, whether they match in number."""

from __future__ import annotations

from typing import Any

import pandas as pd

from modelop.monitors._common import MonitorResult, result, test_object


class VolumetricMonitor:
    def __init__(
        self, df_1: pd.DataFrame, df_2: pd.DataFrame | None = None, **_ignored: Any
    ) -> None:
        self.df_1, self.df_2 = df_1, df_2

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
