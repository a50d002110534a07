"""The parts of a metrics dict beyond jobs.views.metrics' own: SHAP bars, the data drift table
with its PSI chart, ModelOp's chart keys (generic_bar_graph, horizontal_bar_graph,
generic_line_graph, time_line_graph, generic_scatter_plot, generic_table) and its category
arrays of test objects (performance, bias, data_drift, ...).

Read as defensively as the rest: a chart whose shape is not the expected one becomes a note,
and everything is bounded (charts per set, series, points, categories, rows, columns).
"""

from __future__ import annotations

import heapq
import json
import math
from datetime import UTC, datetime

from commandcenter.lib.numbers import number
from jobs import charts, plots

CHART_KEYS = (
    "generic_bar_graph",
    "horizontal_bar_graph",
    "generic_line_graph",
    "time_line_graph",
    "generic_scatter_plot",
    "generic_table",
)
CATEGORIES = (
    "performance",
    "bias",
    "data_drift",
    "concept_drift",
    "stability",
    "volumetrics",
    "interpretability",
)
CHARTS_SHOWN = 20  # charts and tables per metric set
ROWS_SHOWN = 100
COLUMNS_SHOWN = 20
TEXT_CHARS = 100
DRIFT_FEATURES_READ = 5000  # per test; the PSI chart draws the largest of them
DRIFT_TESTS = {  # test_type: (column, default threshold, flagged when the value is ...)
    "kolmogorov_smirnov": ("ks_pvalue", 0.05, "below"),
    "jensen_shannon": ("js_distance", 0.1, "above"),
    "psi": ("psi", 0.2, "above"),
}
DRIFT_COLUMNS = (
    ("ks_pvalue", "KS p-value"),
    ("ks_statistic", "KS statistic"),
    ("js_distance", "JS distance"),
    ("psi", "PSI"),
)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: object, limit: int = TEXT_CHARS) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return number(value)
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str)
    return plots.shorten(str(value), limit)


def _title(chart: dict, fallback: str) -> str:
    title = chart.get("title")
    return plots.shorten(str(title), 120) if isinstance(title, str) and title else fallback


# --- SHAP --------------------------------------------------------------------------------------


def shap_context(interpretability: object, uid: str) -> dict:
    shap = interpretability.get("shap") if isinstance(interpretability, dict) else None
    if not isinstance(shap, dict):
        return {}
    if shap.get("skipped"):
        return {"shap_note": f"No SHAP values: {_text(shap['skipped'], 300)}"}
    found = shap.get("feature_importance")
    items = [
        (str(item.get("feature", "?")), item["mean_abs_shap"], None)
        for item in (found if isinstance(found, list) else [])
        if isinstance(item, dict) and _is_number(item.get("mean_abs_shap"))
    ]
    if not items:
        return {}
    shown = heapq.nlargest(plots.IMPORTANCE_MAX_BARS, items, key=lambda t: t[1])
    rows = shap.get("rows_explained")
    notes = [f"{rows:,} rows explained" if isinstance(rows, int) else ""]
    if len(items) > len(shown):
        notes.append(f"the {len(shown)} largest of {len(items):,} features are drawn")
    if shap.get("note"):
        notes.append(_text(shap["note"]))
    return {
        "shap": plots.importance_bars(shown, uid=uid, title="Mean |SHAP value|"),
        "shap_note": "; ".join(n for n in notes if n),
    }


# --- Data drift ----------------------------------------------------------------------------------


def _tests(value: object) -> list[dict]:
    if not isinstance(value, list):
        return []
    return [t for t in value if isinstance(t, dict) and "values" in t and "test_name" in t]


def drift_context(metrics: dict, uid: str) -> dict:
    """One row per feature from the data_drift tests the table knows (KS, JS, PSI)."""
    features: dict[str, dict] = {}
    for test in _tests(metrics.get("data_drift")):
        known = DRIFT_TESTS.get(str(test.get("test_type")))
        if not known or not isinstance(test["values"], dict):
            continue
        column, default, side = known
        limit = test.get("threshold") if _is_number(test.get("threshold")) else default
        flags = test.get("flags") if isinstance(test.get("flags"), dict) else {}
        statistics = test.get("statistics") if isinstance(test.get("statistics"), dict) else {}
        for feature, value in list(test["values"].items())[:DRIFT_FEATURES_READ]:
            row = features.setdefault(str(feature), {})
            if not _is_number(value):
                continue
            crossed = value < limit if side == "below" else value > limit
            row[column] = (value, bool(flags.get(feature, crossed)))
            if _is_number(statistics.get(feature)):
                row["ks_statistic"] = (statistics[feature], False)
    if not features:
        return {}
    names = list(features)
    rows = [
        {
            "feature": plots.shorten(name, TEXT_CHARS),
            "cells": [
                (
                    _text(features[name][key][0]) if key in features[name] else "—",
                    key in features[name] and features[name][key][1],
                )
                for key, _ in DRIFT_COLUMNS
            ],  # fmt: skip
            "flagged": any(flag for _, flag in features[name].values()),
        }
        for name in names[:ROWS_SHOWN]
    ]
    psi = [(n, features[n]["psi"][0], None) for n in names if "psi" in features[n]]
    shown = heapq.nlargest(plots.IMPORTANCE_MAX_BARS, psi, key=lambda t: t[1])
    return {
        "drift_rows": rows,
        "drift_columns": [label for _, label in DRIFT_COLUMNS],
        "drift_note": (
            f"The first {ROWS_SHOWN:,} of {len(names):,} features are shown."
            if len(names) > ROWS_SHOWN
            else ""
        ),
        "drift_psi": plots.importance_bars(shown, uid=uid, title="PSI by feature")
        if shown
        else None,
    }


# --- ModelOp's chart keys and category arrays ----------------------------------------------------


def _charts_of(value: object, kind: str) -> list[tuple[str, object]]:
    """A key holds one chart or a dict of name: chart."""
    if kind == "generic_table":
        if isinstance(value, list):
            return [("", value)]
        if isinstance(value, dict):
            return [(str(k), v) for k, v in value.items()]
        return []
    if isinstance(value, dict) and "data" in value:
        return [("", value)]
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return []


def _series(data: object) -> list[tuple[str, list]]:
    if not isinstance(data, dict):
        return []
    return [(str(k), v) for k, v in list(data.items())[: charts.MAX_SERIES] if isinstance(v, list)]


def _bars(chart: dict, uid: str, title: str, horizontal: bool) -> object:
    series = [
        (name, [v if _is_number(v) else None for v in values[: charts.MAX_CATEGORIES]])
        for name, values in _series(chart.get("data"))
    ]
    if not series or not any(v is not None for _, vs in series for v in vs):
        return None
    categories = chart.get("categories")
    count = max(len(vs) for _, vs in series)
    if not isinstance(categories, list):
        categories = [str(i + 1) for i in range(count)]
    categories = [_text(c, 40) for c in categories[: charts.MAX_CATEGORIES]]
    categories += [str(i + 1) for i in range(len(categories), count)]
    return charts.bar_chart(
        categories, series, uid=uid, title=title, horizontal=horizontal,
        x_label=_text(chart.get("x_axis_label") or "", 60),
        y_label=_text(chart.get("y_axis_label") or "", 60),
    )  # fmt: skip


def _x(value: object, dates: bool) -> float | None:
    if _is_number(value):
        return float(value)
    if dates and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return None


def _xy(chart: dict, uid: str, title: str, *, lines: bool, dates: bool) -> object:
    series = []
    for name, points in _series(chart.get("data")):
        pairs = []
        for point in points[: plots.CURVE_MAX_POINTS * 5]:
            if isinstance(point, list | tuple) and len(point) >= 2 and _is_number(point[1]):
                x = _x(point[0], dates)
                if x is not None:
                    pairs.append((x, float(point[1])))
        if pairs:
            series.append((name, pairs))
    if not series:
        return None
    return charts.xy_plot(
        series, uid=uid, title=title, lines=lines,
        x_label=_text(chart.get("x_axis_label") or "", 60),
        y_label=_text(chart.get("y_axis_label") or "", 60),
        x_format=charts.date_label if dates else charts._label,
    )  # fmt: skip


def _table(rows: object) -> dict | None:
    if not isinstance(rows, list):
        return None
    items = [r for r in rows if isinstance(r, dict)]
    if not items:
        return None
    columns = list(dict.fromkeys(str(k) for r in items[:ROWS_SHOWN] for k in r))[:COLUMNS_SHOWN]
    return {
        "columns": [plots.shorten(c, 40) for c in columns],
        "rows": [[_text(r.get(c)) for c in columns] for r in items[:ROWS_SHOWN]],
        "note": f"The first {ROWS_SHOWN:,} of {len(items):,} rows are shown."
        if len(items) > ROWS_SHOWN
        else "",
    }


def _flattened(value: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        found = []
        for key, inner in value.items():
            found.extend(_flattened(inner, f"{prefix}.{key}" if prefix else str(key)))
            if len(found) > ROWS_SHOWN:
                break
        return found
    return [(prefix, value)]


def _category_table(name: str, tests: list[dict]) -> dict | None:
    rows, total = [], 0
    for test in tests:
        for key, value in _flattened(test["values"]) or [("", None)]:
            total += 1
            if len(rows) < ROWS_SHOWN:
                rows.append(
                    [_text(test.get("test_name")), _text(test.get("test_type")),
                     plots.shorten(key, TEXT_CHARS), _text(value)]
                )  # fmt: skip
    if not rows:
        return None
    return {
        "title": name.replace("_", " ").capitalize(),
        "columns": ["Test", "Type", "Value of", "Value"],
        "rows": rows,
        "note": f"The first {ROWS_SHOWN:,} values are shown." if total > ROWS_SHOWN else "",
    }


def modelop_context(metrics: dict, uid: str) -> dict:
    figures: list[dict] = []
    notes: list[str] = []
    for kind in CHART_KEYS:
        for index, (name, chart) in enumerate(_charts_of(metrics.get(kind), kind)):
            if len(figures) >= CHARTS_SHOWN:
                notes.append(f"At most {CHARTS_SHOWN} charts are drawn.")
                break
            label = plots.shorten(name, 60) or kind
            chart_uid = f"{uid}-{kind}-{index}"
            if kind == "generic_table":
                table = _table(chart)
                if table:
                    figures.append({"table": table, "title": label})
                else:
                    notes.append(f"{label}: not a list of rows, not shown.")
                continue
            if not isinstance(chart, dict):
                notes.append(f"{label}: not a chart, not drawn.")
                continue
            title = _title(chart, label)
            if kind in ("generic_bar_graph", "horizontal_bar_graph"):
                svg = _bars(chart, chart_uid, title, kind == "horizontal_bar_graph")
            else:
                svg = _xy(
                    chart, chart_uid, title, lines=kind != "generic_scatter_plot",
                    dates=kind == "time_line_graph",
                )  # fmt: skip
            if svg is None:
                notes.append(f"{title}: no data of the expected shape, not drawn.")
            else:
                figures.append({"svg": svg, "title": title, "kind": kind})
    categories = []
    for name in CATEGORIES:
        tests = _tests(metrics.get(name))
        if name == "data_drift":  # the drift table shows these
            tests = [t for t in tests if t.get("test_type") not in {*DRIFT_TESTS, "drift_flags"}]
        table = _category_table(name, tests) if tests else None
        if table:
            categories.append(table)
    return {"charts": figures, "charts_notes": list(dict.fromkeys(notes)), "categories": categories}


def context(metrics: dict, uid: str) -> dict:
    return {
        **shap_context(metrics.get("interpretability"), f"{uid}-shap"),
        **drift_context(metrics, f"{uid}-psi"),
        **modelop_context(metrics, uid),
    }
