"""Charts as inline SVG, drawn on the server: they render without JavaScript and need no vendored library.

Every chart is a `<figure>` with an SVG (role="img", its title as the accessible name) and a caption; the
numbers behind each mark sit in a `<title>` so hovering shows them.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Literal

from markupsafe import Markup

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 16, 44
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")
# Text is 11 px (kitt.css and the report's style): a glyph is at most this wide on average, so a label's
# box is estimated generously and two labels are never drawn where they could touch.
CHAR_W, TICK_GAP, LINE_H = 6.6, 6.0, 13.0
LEGEND_CHARS = int((RIGHT - 12 - 16 - 4) // CHAR_W)
TAIL_MAX = 99.99  # a percentile axis ends here: p100 (the maximum) would lie at infinity
XScale = Literal["linear", "percentile"]


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]] = field(default_factory=tuple)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(count + 2) if first + i * step <= high + step * 0.5]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _tail(p: float) -> float:
    """A percentile's place on a tail axis, -log10(1 - p/100): 50, 90, 99 and 99.9 equally spaced, as
    latency percentiles are read (a linear axis piles 95, 99 and 99.9 onto one spot)."""
    return -math.log10(1 - min(max(p, 0.0), TAIL_MAX) / 100)


def _thin(ticks: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """Centred tick labels left to right, dropping any whose box would touch the last one kept."""
    kept: list[tuple[float, str]] = []
    right = -math.inf
    for x, label in sorted(ticks):
        half = len(label) * CHAR_W / 2
        if x - half >= right + TICK_GAP:
            kept.append((x, label))
            right = x + half
    return kept


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` characters, broken at spaces where it can (never cut off)."""
    words: list[str] = []
    for word in text.split():  # a word longer than a line is split across lines
        words += [word[i : i + width] for i in range(0, len(word), width)]
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _frame(title: str, x_label: str, y_label: str, y_ticks: list[float], y_of) -> list[str]:
    plot_w = WIDTH - LEFT - RIGHT
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for tick in y_ticks:
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>'
        )
    mid_y = TOP + (HEIGHT - TOP - BOTTOM) / 2
    parts.append(
        f'<text class="axis" x="14" y="{mid_y:.0f}" transform="rotate(-90 14 {mid_y:.0f})" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    parts.append(
        f'<text class="axis" x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    """Names wrapped onto as many lines as they need; those that do not fit the chart's height are
    counted on a last line (each series still names itself in its marks' <title>)."""
    x, bottom = WIDTH - RIGHT + 12, HEIGHT - BOTTOM  # above the x axis's labels, which reach under it
    out = []
    y = TOP + 8.0
    for i, name in enumerate(names):
        lines = _wrap(name, LEGEND_CHARS)
        # room for this entry, and for the "more" line unless this is the last entry
        limit = bottom if i == len(names) - 1 else bottom - LINE_H - 5
        if y + (len(lines) - 1) * LINE_H > limit:
            out.append(f'<text class="legend" x="{x}" y="{y:.1f}">… {len(names) - i} more</text>')
            break
        color = COLORS[i % len(COLORS)]
        out.append(f'<rect x="{x}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>')
        spans = "".join(
            f'<tspan x="{x + 16}" dy="{0 if n == 0 else LINE_H:g}">{escape(line)}</tspan>'
            for n, line in enumerate(lines)
        )
        out.append(f'<text class="legend" x="{x + 16}" y="{y:.1f}">{spans}</text>')
        y += len(lines) * LINE_H + 5
    return out


def _figure(svg: list[str], caption: str) -> Markup:
    body = "".join(svg) + "</svg>"
    return Markup(f'<figure class="chart-box">{body}<figcaption>{escape(caption)}</figcaption></figure>')


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    lines: Sequence[bool] | None = None,
    markers: bool = True,
    x_scale: XScale = "linear",
) -> Markup:
    """Lines through numeric (x, y) points, one per series; the y axis starts at zero.

    `lines[i]` False draws series i as points only (a scatter); dense x values get a regular axis;
    `x_scale="percentile"` places x (a percentile) on a tail axis. Tick labels that would touch are
    thinned, never drawn over each other."""
    drawn = [s for s in series if s.points]
    place: Callable[[float], float] = _tail if x_scale == "percentile" else float
    xs = [place(x) for s in drawn for x, _ in s.points] or [0.0, 1.0]
    ys = [y for s in drawn for _, y in s.points] or [1.0]
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_ticks = _ticks(0.0, max(ys) * 1.05 or 1.0)
    y_top = y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(x: float) -> float:
        return LEFT + (place(x) - x_low) / (x_high - x_low) * plot_w

    def y_of(y: float) -> float:
        return TOP + plot_h - y / y_top * plot_h

    parts = _frame(title, x_label, y_label, y_ticks, y_of)
    unique = sorted({x for s in drawn for x, _ in s.points})
    if x_scale == "percentile" or len(unique) <= 12:
        x_ticks = unique
    else:
        x_ticks = [t for t in _ticks(x_low, x_high) if x_low <= t <= x_high]
    for at, label in _thin([(x_of(x), _fmt(x)) for x in x_ticks]):
        parts.append(f'<text class="tick" x="{at:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">')
        parts.append(f"{label}</text>")
    for i, s in enumerate(drawn):
        color = COLORS[i % len(COLORS)]
        points = sorted(s.points)
        if lines is None or (i < len(lines) and lines[i]):
            path = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in points)
            parts.append(
                f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
            )
        if not markers and (lines is None or (i < len(lines) and lines[i])):
            continue
        for x, y in points:
            parts.append(
                f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="3.5" fill="{color}">'
                f"<title>{escape(s.name)}: {_fmt(x)} → {_fmt(y)}</title></circle>"
            )
    parts += _legend([s.name for s in drawn])
    return _figure(parts, title)


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *, y_label: str) -> Markup:
    """Grouped bars: for each category, one bar per series (a series' points are (category index, value))."""
    values = [v for s in series for _, v in s.points] or [1.0]
    y_ticks = _ticks(min(0.0, min(values)), max(values) * 1.05 or 1.0)
    y_low, y_top = min(0.0, y_ticks[0]), y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y_of(y: float) -> float:
        return TOP + plot_h - (y - y_low) / (y_top - y_low) * plot_h

    parts = _frame(title, "", y_label, y_ticks, y_of)
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    labels = [(LEFT + c * group_w + group_w * 0.5, category[:18]) for c, category in enumerate(categories)]
    for at, label in _thin(labels):  # each bar still names its category in its <title>
        y = TOP + plot_h + 18
        parts.append(f'<text class="tick" x="{at:.1f}" y="{y}" text-anchor="middle">{escape(label)}</text>')
    for c, category in enumerate(categories):
        x0 = LEFT + c * group_w + group_w * 0.1
        for i, s in enumerate(series):
            value = dict(s.points).get(float(c))
            if value is None:
                continue
            top, base = y_of(max(value, 0.0)), y_of(min(value, 0.0))
            parts.append(
                f'<rect class="bar" x="{x0 + i * bar_w:.1f}" y="{top:.1f}" width="{bar_w * 0.92:.1f}" '
                f'height="{max(base - top, 0.5):.1f}" fill="{COLORS[i % len(COLORS)]}">'
                f"<title>{escape(s.name)} · {escape(category)}: {_fmt(value)}</title></rect>"
            )
    parts += _legend([s.name for s in series])
    return _figure(parts, title)
