"""Bar charts and x/y plots on linear axes as inline SVG, for the charts a metrics job describes
itself (ModelOp's generic_bar_graph, generic_line_graph, ...; see jobs.views.modelop_charts).

Like jobs.plots: safe markup, all text through format_html, colours as SVG attributes (no
style attributes, the site's CSP forbids them), and bounded: callers hand at most
MAX_SERIES series, MAX_CATEGORIES bars per series and MAX_POINTS points per series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString

from commandcenter.lib.numbers import number
from jobs.plots import PALETTE, TITLE_CHARS, _svg, downsample, shorten

MAX_SERIES = 8
MAX_CATEGORIES = 50
MAX_POINTS = 1000
TICK_COUNT = 5

Series = Sequence[tuple[str, Sequence[float | None]]]


def _label(value: float) -> str:
    return number(float(value), 3)


def _span(values: Sequence[float], *, zero: bool) -> tuple[float, float]:
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    return lo, hi


def _legend(names: Sequence[str], *, x: float, y: float) -> list[str]:
    return [
        format_html(
            '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
            '<text class="plot-legend" x="{}" y="{}">{}</text>',
            x,
            y + 14 * index,
            PALETTE[index % len(PALETTE)],
            x + 14,
            y + 14 * index + 9,
            shorten(name, 30),
        )
        for index, name in enumerate(names)
    ]


def _heading(width: float, title: str) -> str:
    return format_html(
        '<text class="plot-title" x="{}" y="20" text-anchor="middle">{}</text>', width / 2, title
    )


def bar_chart(
    categories: Sequence[str],
    series: Series,
    *,
    uid: str,
    title: str,
    x_label: str = "",
    y_label: str = "",
    horizontal: bool = False,
) -> SafeString:
    """Grouped bars: one group per category, one bar per series in it (None: no bar)."""
    categories, series = list(categories)[:MAX_CATEGORIES], list(series)[:MAX_SERIES]
    values = [v for _, vs in series for v in vs[: len(categories)] if v is not None]
    lo, hi = _span(values, zero=True)
    per = max(1, len(series))
    group = max(18, min(60, 14 * per + 8))
    bar = (group - 6) / per
    legend = len(series) > 1
    if horizontal:
        left, top, length = 140, 34, 300
        width = left + length + 70
        height = top + len(categories) * group + 44 + (14 * per if legend else 0)
    else:
        left, top, length = 60, 34, 240
        width = max(380, left + len(categories) * group + 20)
        height = top + length + 70 + (14 * per if legend else 0)

    def scale(value: float) -> float:
        return (value - lo) / (hi - lo) * length

    body = [_heading(width, title)]
    base = scale(0.0)
    for k in range(TICK_COUNT):
        tick = lo + (hi - lo) * k / (TICK_COUNT - 1)
        if horizontal:
            x, y2 = left + scale(tick), top + len(categories) * group
            body.append(
                format_html(
                    '<line class="plot-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                    '<text class="plot-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    x,
                    top,
                    x,
                    y2,
                    x,
                    y2 + 14,
                    _label(tick),
                )  # fmt: skip
            )
        else:
            y = top + length - scale(tick)
            body.append(
                format_html(
                    '<line class="plot-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                    '<text class="plot-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                    left,
                    y,
                    width - 20,
                    y,
                    left - 6,
                    y + 4,
                    _label(tick),
                )  # fmt: skip
            )
    for c, category in enumerate(categories):
        start = c * group + 3
        if horizontal:
            body.append(
                format_html(
                    '<text class="plot-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                    left - 6,
                    top + start + group / 2,
                    shorten(category, 20),
                )  # fmt: skip
            )
        else:
            x = left + start + group / 2
            body.append(
                format_html(
                    '<text class="plot-tick" x="{}" y="{}" text-anchor="end" '
                    'transform="rotate(-40 {} {})">{}</text>',
                    x,
                    top + length + 14,
                    x,
                    top + length + 14,
                    shorten(category, 12),
                )  # fmt: skip
            )
        for s, (name, vs) in enumerate(series):
            value = vs[c] if c < len(vs) else None
            if value is None:
                continue
            low, high = sorted((base, scale(value)))
            offset = start + s * bar
            if horizontal:
                x, y, w, h = left + low, top + offset, max(high - low, 1), bar
            else:
                x, y, w, h = left + offset, top + length - high, bar, max(high - low, 1)
            body.append(
                format_html(
                    '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} · {}: {}</title></rect>",
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{w:.1f}",
                    f"{h:.1f}",
                    PALETTE[s % len(PALETTE)],
                    shorten(name, TITLE_CHARS),
                    shorten(category, TITLE_CHARS),
                    number(float(value)),
                )  # fmt: skip
            )
    axis_y = top + (len(categories) * group if horizontal else length)
    body.append(
        format_html(
            '<text class="plot-axis" x="{}" y="{}" text-anchor="middle">{}</text>'
            '<text class="plot-axis" x="14" y="{}" text-anchor="middle" '
            'transform="rotate(-90 14 {})">{}</text>',
            left + (length if horizontal else width - left) / 2,
            axis_y + (32 if horizontal else 58),
            y_label if horizontal else x_label,
            top + (axis_y - top) / 2,
            top + (axis_y - top) / 2,
            x_label if horizontal else y_label,
        )
    )
    if legend:
        body.extend(_legend([n for n, _ in series], x=left, y=height - 14 * per - 4))
    return _svg(uid, title, width, height, body)


def xy_plot(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    uid: str,
    title: str,
    x_label: str = "",
    y_label: str = "",
    lines: bool = True,
    x_format: Callable[[float], str] = _label,
) -> SafeString:
    """Lines (sorted by x, downsampled) or points on linear axes fitted to the data."""
    series = [
        (name, downsample(sorted(points), MAX_POINTS) if lines else list(points)[:MAX_POINTS])
        for name, points in list(series)[:MAX_SERIES]
    ]
    width, height = 460, 320 + (14 * len(series) if len(series) > 1 else 0)
    left, top, pw, ph = 60, 34, 380, 230
    x_lo, x_hi = _span([x for _, ps in series for x, _ in ps], zero=False)
    y_lo, y_hi = _span([y for _, ps in series for _, y in ps], zero=False)

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    body = [
        _heading(width, title),
        format_html(
            '<rect class="plot-frame" x="{}" y="{}" width="{}" height="{}"/>', left, top, pw, ph
        ),
    ]
    for k in range(TICK_COUNT):
        x = x_lo + (x_hi - x_lo) * k / (TICK_COUNT - 1)
        y = y_lo + (y_hi - y_lo) * k / (TICK_COUNT - 1)
        body.append(
            format_html(
                '<line class="plot-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="plot-tick" x="{}" y="{}" text-anchor="middle">{}</text>'
                '<line class="plot-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="plot-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                f"{px(x):.1f}",
                top,
                f"{px(x):.1f}",
                top + ph,
                f"{px(x):.1f}",
                top + ph + 15,
                x_format(x),
                left,
                f"{py(y):.1f}",
                left + pw,
                f"{py(y):.1f}",
                left - 6,
                f"{py(y) + 4:.1f}",
                _label(y),
            )  # fmt: skip
        )
    body.append(
        format_html(
            '<text class="plot-axis" x="{}" y="{}" text-anchor="middle">{}</text>'
            '<text class="plot-axis" x="14" y="{}" text-anchor="middle" '
            'transform="rotate(-90 14 {})">{}</text>',
            left + pw / 2,
            top + ph + 36,
            x_label,
            top + ph / 2,
            top + ph / 2,
            y_label,
        )  # fmt: skip
    )
    for index, (name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if lines:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            body.append(
                format_html(
                    '<polyline class="plot-line{}" points="{}" stroke="{}"><title>{}</title>'
                    "</polyline>",
                    " dashed" if index else "",
                    path,
                    colour,
                    shorten(name, TITLE_CHARS),
                )  # fmt: skip
            )
        else:
            body.extend(
                format_html(
                    '<circle class="chart-point" cx="{}" cy="{}" r="3" fill="{}">'
                    "<title>{}: {}, {}</title></circle>",
                    f"{px(x):.1f}",
                    f"{py(y):.1f}",
                    colour,
                    shorten(name, TITLE_CHARS),
                    x_format(x),
                    _label(y),
                )  # fmt: skip
                for x, y in points
            )
    if len(series) > 1:
        body.extend(_legend([n for n, _ in series], x=left, y=top + ph + 48))
    return _svg(uid, title, width, height, body)


def date_label(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
