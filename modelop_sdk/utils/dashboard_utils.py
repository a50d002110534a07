"""Builders of the chart objects a monitor or dashboard model may put in its result, in the
shapes of ModelOp's "Monitor Output Structure":

- generic_bar_graph / horizontal_bar_graph: {"title", "x_axis_label", "y_axis_label",
  "rotated", "data": {series: [y, ...]}, "categories": [x, ...]}
- generic_line_graph / time_line_graph: {"title", "x_axis_label", "y_axis_label",
  "data": {series: [[x, y], ...]}} (time_line_graph's x values are ISO date-times)
- generic_scatter_plot: as a line graph, the points not joined
- generic_table: a list of row dicts

Each builder returns {key: chart}, ready for modelop.utils.merge or {**result, **chart}.
Unsure: the names and signatures of ModelOp's own helpers in this module (unpublished); these
are small, documented equivalents, and "rotated" is our guess at what tells a horizontal bar
graph from a vertical one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from modelop.monitors._common import native


def generic_bar_graph(
    data: Mapping[str, Iterable[Any]],
    categories: Iterable[Any],
    *,
    title: str = "",
    x_axis_label: str = "",
    y_axis_label: str = "",
    key: str = "generic_bar_graph",
    rotated: bool = False,
) -> dict:
    categories = list(categories)
    series = {name: list(values) for name, values in data.items()}
    for name, values in series.items():
        if len(values) != len(categories):
            raise ValueError(
                f"series '{name}' has {len(values)} values for {len(categories)} categories"
            )
    chart = {
        "title": title,
        "x_axis_label": x_axis_label,
        "y_axis_label": y_axis_label,
        "rotated": rotated,
        "data": series,
        "categories": categories,
    }
    return {key: native(chart)}


def horizontal_bar_graph(
    data: Mapping[str, Iterable[Any]], categories: Iterable[Any], **options: Any
) -> dict:
    options.setdefault("key", "horizontal_bar_graph")
    return generic_bar_graph(data, categories, rotated=True, **options)


def generic_line_graph(
    data: Mapping[str, Iterable[Iterable[Any]]],
    *,
    title: str = "",
    x_axis_label: str = "",
    y_axis_label: str = "",
    key: str = "generic_line_graph",
) -> dict:
    series = {}
    for name, points in data.items():
        pairs = [list(point) for point in points]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"series '{name}': every point is [x, y]")
        series[name] = [[_x(x), y] for x, y in pairs]
    chart = {
        "title": title,
        "x_axis_label": x_axis_label,
        "y_axis_label": y_axis_label,
        "data": series,
    }
    return {key: native(chart)}


def time_line_graph(data: Mapping[str, Iterable[Iterable[Any]]], **options: Any) -> dict:
    options.setdefault("key", "time_line_graph")
    return generic_line_graph(data, **options)


def generic_scatter_plot(data: Mapping[str, Iterable[Iterable[Any]]], **options: Any) -> dict:
    options.setdefault("key", "generic_scatter_plot")
    return generic_line_graph(data, **options)


def generic_table(rows: Iterable[Mapping[str, Any]], *, key: str = "generic_table") -> dict:
    return {key: native([dict(row) for row in rows])}


def _x(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
