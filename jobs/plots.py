"""Small plots as inline SVG, built on the server so they show without JavaScript.

Every function returns safe markup: an <svg> with role="img" and a <title> naming it. All text
that comes from job metrics goes through format_html/escape.

Metrics come from model code, so every plot is bounded: a curve is downsampled to
CURVE_MAX_POINTS, a confusion matrix is drawn up to CONFUSION_MAX_CLASSES classes, and at most
IMPORTANCE_MAX_BARS bars are drawn. The page says what was left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from commandcenter.lib.numbers import number

PALETTE = ("#2457c5", "#d9730d", "#17663a", "#a3231a", "#6b3fa0", "#0f7b8a", "#8a6d0f", "#c2185b")
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
LABEL_CHARS = 14
TITLE_CHARS = 200  # a tooltip names a label or feature; a longer one is cut there
CURVE_MAX_POINTS = 2000  # more than the plot's width in pixels, many times over
CONFUSION_MAX_CLASSES = 50  # 2,500 cells; beyond that no cell can be read anyway
IMPORTANCE_MAX_BARS = 30


def shorten(text: object, limit: int = LABEL_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def downsample(points: Sequence[Sequence[float]], limit: int = CURVE_MAX_POINTS) -> list:
    """At most LIMIT of POINTS ((x, y, ...) each, given back whole), keeping the curve's shape:
    largest-triangle-three-buckets (Steinarsson 2013) keeps the first and last point and, from
    each bucket in between, the point that makes the largest triangle with its neighbours'
    picks, so peaks and corners stay."""
    n = len(points)
    if n <= limit or limit < 3:
        return list(points) if n <= limit else [points[0], points[-1]]
    kept = [points[0]]
    size = (n - 2) / (limit - 2)
    previous = points[0]
    for bucket in range(limit - 2):
        start, end = int(bucket * size) + 1, int((bucket + 1) * size) + 1
        # The next bucket's average stands in for the point that will be picked there.
        following = points[end : min(int((bucket + 2) * size) + 1, n)]
        ax = sum(p[0] for p in following) / len(following)
        ay = sum(p[1] for p in following) / len(following)
        px, py = previous[0], previous[1]
        best = max(
            points[start:end],
            key=lambda p: abs((px - ax) * (p[1] - py) - (px - p[0]) * (ay - py)),
        )
        kept.append(best)
        previous = best
    kept.append(points[-1])
    return kept


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value == value else "nan"


def _svg(uid: str, title: str, width: int, height: int, body: list[str]) -> SafeString:
    head = format_html(
        '<svg class="plot-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'width="{}" height="{}" role="img" aria-labelledby="{}-title">'
        '<title id="{}-title">{}</title>',
        width,
        height,
        width,
        height,
        uid,
        uid,
        title,
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - parts escaped above


def line_plot(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    uid: str,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    baseline: float | None = None,
    baseline_label: str = "",
) -> SafeString:
    """Curves on the unit square (ROC, precision–recall); SERIES are (name, [(x, y), ...]),
    each downsampled to CURVE_MAX_POINTS. BASELINE draws a dashed level line (a PR curve's
    prevalence: what a random guess reaches). With several series their legend goes below."""
    legend_rows = len(series) if len(series) > 1 else 0
    width, height = 380, 340 + 16 * legend_rows
    left, right, top, bottom = 52, 16, 34, 48 + 16 * legend_rows
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + max(0.0, min(1.0, x)) * pw

    def py(y: float) -> float:
        return top + (1 - max(0.0, min(1.0, y))) * ph

    body = [
        format_html(
            '<text class="plot-title" x="{}" y="20" text-anchor="middle">{}</text>',
            width / 2,
            title,
        ),
        format_html(
            '<rect class="plot-frame" x="{}" y="{}" width="{}" height="{}"/>', left, top, pw, ph
        ),
    ]
    for tick in TICKS:
        body.append(
            format_html(
                '<line class="plot-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="plot-tick" x="{}" y="{}" text-anchor="middle">{}</text>'
                '<line class="plot-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="plot-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                px(tick),
                top,
                px(tick),
                top + ph,
                px(tick),
                top + ph + 15,
                _num(tick),
                left,
                py(tick),
                left + pw,
                py(tick),
                left - 6,
                py(tick) + 4,
                _num(tick),
            )
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
        )
    )
    if diagonal:
        body.append(
            format_html(
                '<line class="plot-diagonal" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                px(0),
                py(0),
                px(1),
                py(1),
            )
        )
    if baseline is not None:
        body.append(
            format_html(
                '<line class="plot-diagonal plot-baseline" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                # Labelled at the left, where a PR curve is high above its baseline.
                '<text class="plot-tick" x="{}" y="{}">{}</text>',
                px(0),
                py(baseline),
                px(1),
                py(baseline),
                px(0) + 4,
                py(baseline) - 4,
                baseline_label,
            )
        )
    for index, (name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in downsample(points))
        body.append(
            format_html(
                '<polyline class="plot-line{}" points="{}" stroke="{}"><title>{}</title></polyline>',
                # Later series are dashed so that a curve lying on another still shows.
                " dashed" if index else "",
                path,
                colour,
                name,
            )
        )
        if legend_rows:
            ly = top + ph + 44 + 16 * index
            body.append(
                format_html(
                    '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="3"{}/>'
                    '<text class="plot-legend" x="{}" y="{}">{}</text>',
                    left - 40,
                    ly,
                    left - 18,
                    ly,
                    colour,
                    mark_safe(' stroke-dasharray="7 4"') if index else "",
                    left - 12,
                    ly + 4,
                    shorten(name, 48),
                )
            )
    return _svg(uid, title, width, height, body)


def _heat_colour(fraction: float) -> str:
    """White to the accent blue (#2457c5) as FRACTION goes from 0 to 1."""
    fraction = max(0.0, min(1.0, fraction))
    r, g, b = (round(255 + (c - 255) * fraction) for c in (0x24, 0x57, 0xC5))
    return f"#{r:02x}{g:02x}{b:02x}"


def confusion_heatmap(
    labels: Sequence[str], matrix: Sequence[Sequence[float]], *, uid: str, title: str
) -> SafeString:
    """MATRIX[i][j] is how many records of actual label i were predicted as label j; at most
    CONFUSION_MAX_CLASSES labels (callers say "too many to draw" beyond that)."""
    n = len(labels)
    if n > CONFUSION_MAX_CLASSES:
        raise ValueError(f"{n} classes: more than {CONFUSION_MAX_CLASSES} cannot be drawn")
    cell = max(30, min(84, 340 // max(n, 1)))
    left, top = 118, 64
    width, height = left + n * cell + 16, top + n * cell + 16
    peak = max((v for row in matrix for v in row), default=0) or 1
    body = [
        format_html(
            '<text class="plot-title" x="{}" y="18" text-anchor="middle">{}</text>',
            width / 2,
            title,
        ),
        format_html(
            '<text class="plot-axis" x="{}" y="38" text-anchor="middle">Predicted</text>'
            '<text class="plot-axis" x="14" y="{}" text-anchor="middle" '
            'transform="rotate(-90 14 {})">Actual</text>',
            left + n * cell / 2,
            top + n * cell / 2,
            top + n * cell / 2,
        ),
    ]
    for j, label in enumerate(labels):
        body.append(
            format_html(
                '<text class="plot-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                left + j * cell + cell / 2,
                top - 8,
                shorten(label, max(3, cell // 7)),
            )
        )
    totals = [sum(row) for row in matrix]
    for i, label in enumerate(labels):
        y = top + i * cell
        body.append(
            format_html(
                '<text class="plot-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                left - 8,
                y + cell / 2 + 4,
                shorten(label),
            )
        )
        for j, value in enumerate(matrix[i]):
            fraction = value / peak
            # The share of the actual label's records (the row) that landed in this cell.
            share = f"{100 * value / totals[i]:.1f}%" if totals[i] else "—"
            dark = " on-dark" if fraction > 0.55 else ""
            roomy = cell >= 44  # room for the share under the count
            body.append(
                format_html(
                    '<g class="cm-cell"><rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>actual {}, predicted {}: {} ({} of the actual {})</title></rect>"
                    '<text class="cm-count{}" x="{}" y="{}" text-anchor="middle">{}</text>',
                    left + j * cell,
                    y,
                    cell,
                    cell,
                    _heat_colour(fraction),
                    shorten(labels[i], TITLE_CHARS),
                    shorten(labels[j], TITLE_CHARS),
                    _num_count(value),
                    share,
                    shorten(labels[i], TITLE_CHARS),
                    dark,
                    left + j * cell + cell / 2,
                    y + cell / 2 + (0 if roomy else 5),
                    _num_count(value),
                )
                + (
                    format_html(
                        '<text class="cm-share{}" x="{}" y="{}" text-anchor="middle">{}</text>',
                        dark,
                        left + j * cell + cell / 2,
                        y + cell / 2 + 16,
                        share,
                    )
                    if roomy
                    else ""
                )
                + mark_safe("</g>")
            )
    return _svg(uid, title, width, height, body)


def _num_count(value: float) -> str:
    return number(int(value)) if float(value).is_integer() else number(float(value))


def importance_bars(
    items: Sequence[tuple[str, float, float | None]], *, uid: str, title: str
) -> SafeString:
    """Horizontal bars, one per (feature, importance, std), in the order given; the first
    IMPORTANCE_MAX_BARS of them. The scale takes in every whisker (value ± std), and each
    value label sits past the end of its bar and its whisker, so neither crosses it; the right
    margin fits the longest label."""
    items = items[:IMPORTANCE_MAX_BARS]
    bar, gap = 20, 6
    labels = [number(float(value)) for _, value, _ in items]
    left, top, plot_w = 150, 34, 420
    right = 14 + 7 * max((len(text) for text in labels), default=4)
    width, height = left + plot_w + right, top + len(items) * (bar + gap) + 24
    ends = [v + sign * (std or 0.0) for _, v, std in items for sign in (-1, 1)]
    lo, hi = min(0.0, *ends), max(0.0, *ends)
    span = (hi - lo) or 1.0

    def px(value: float) -> float:
        return left + max(0.0, min(1.0, (value - lo) / span)) * plot_w

    body = [
        format_html(
            '<text class="plot-title" x="{}" y="20" text-anchor="middle">{}</text>',
            width / 2,
            title,
        ),
    ]
    for index, ((feature, value, std), text) in enumerate(zip(items, labels, strict=True)):
        y = top + index * (bar + gap)
        x0, x1 = sorted((px(0), px(value)))
        reach = max(x1, px(0), px(value + std) if std else 0.0, px(value - std) if std else 0.0)
        body.append(
            format_html(
                '<text class="plot-tick" x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}: {}{}</title></rect>",
                left - 8,
                y + bar / 2 + 4,
                shorten(feature, 20),
                f"{x0:.1f}",
                y,
                f"{max(x1 - x0, 1):.1f}",
                bar,
                shorten(feature, TITLE_CHARS),
                text,
                f" ± {number(float(std))}" if std else "",
            )
        )
        if std:
            body.append(
                format_html(
                    '<line class="plot-error" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                    f"{px(value - std):.1f}",
                    y + bar / 2,
                    f"{px(value + std):.1f}",
                    y + bar / 2,
                )
            )
        body.append(
            format_html(
                '<text class="plot-tick fi-value" x="{}" y="{}">{}</text>',
                f"{reach + 5:.1f}",
                y + bar / 2 + 4,
                text,
            )
        )
    axis_y = top + len(items) * (bar + gap)
    body.append(
        format_html(
            '<line class="plot-zero" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            px(0),
            top - 4,
            px(0),
            axis_y,
        )
    )
    return _svg(uid, title, width, height, body)
