"""Charts as inline SVG, drawn on the server: they render without JavaScript and need no vendored library.

Every chart is a `<figure>` with an SVG (role="img", its title as the accessible name) and a caption; the
numbers behind each mark sit in a `<title>` so hovering shows them.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 16, 44
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")


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
    x = WIDTH - RIGHT + 12
    out = []
    for i, name in enumerate(names):
        y = TOP + 8 + i * 18
        color = COLORS[i % len(COLORS)]
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text class="legend" x="{x + 16}" y="{y}">{escape(name[:22])}</text>')
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
) -> Markup:
    """Lines through numeric (x, y) points, one per series; the y axis starts at zero.

    `lines[i]` False draws series i as points only (a scatter); dense x values get a regular axis."""
    drawn = [s for s in series if s.points]
    xs = [x for s in drawn for x, _ in s.points] or [0.0, 1.0]
    ys = [y for s in drawn for _, y in s.points] or [1.0]
    x_low, x_high = min(xs), max(xs)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_ticks = _ticks(0.0, max(ys) * 1.05 or 1.0)
    y_top = y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(x: float) -> float:
        return LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def y_of(y: float) -> float:
        return TOP + plot_h - y / y_top * plot_h

    parts = _frame(title, x_label, y_label, y_ticks, y_of)
    unique = sorted(set(xs))
    x_ticks = unique if len(unique) <= 12 else [t for t in _ticks(x_low, x_high) if x_low <= t <= x_high]
    for x in x_ticks:
        parts.append(f'<text class="tick" x="{x_of(x):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">')
        parts.append(f"{_fmt(x)}</text>")
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
    for c, category in enumerate(categories):
        x0 = LEFT + c * group_w + group_w * 0.1
        parts.append(
            f'<text class="tick" x="{x0 + group_w * 0.4:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
            f"{escape(category[:18])}</text>"
        )
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
