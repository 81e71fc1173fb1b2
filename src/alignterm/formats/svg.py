"""Plain inline SVG charts for the HTML pages: a line chart and a grouped bar chart, each with
axes, ticks, axis labels and a legend, coloured by CSS classes the page defines (no scripts,
no network assets). Every text drawn here is HTML-escaped by the caller's data: labels are
escaped here too, so a token or a query cannot close a tag."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

# the drawing area inside the viewBox: room on the left for y ticks, below for x ticks and label
_W, _H = 640, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 44, 40  # the title and the legend sit above the plot


@dataclass(frozen=True)
class Series:
    """One line (or one group member of bars): its legend label, CSS class and values."""

    label: str
    css: str
    xs: Sequence[float]
    ys: Sequence[float]
    dashed: bool = False


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """About `count` round tick values from 0 to at least `high` (steps of 1, 2 or 5 times a power of ten)."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(math.ceil(high / step - 1e-9)) + 1)]


def _fmt(v: float, percent: bool) -> str:
    if percent:
        return f"{v:.0%}" if abs(v * 100 - round(v * 100)) < 1e-6 else f"{v:.1%}"
    return f"{v:g}"


def _frame(title: str, x_label: str, y_label: str, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]],
           aria: str) -> tuple[str, str]:
    """The chart's opening (svg tag, title, axes, ticks, labels) and its closing tag; tick positions
    are already in drawing coordinates."""
    x0, y0, x1, y1 = _LEFT, _H - _BOTTOM, _W - _RIGHT, _TOP
    parts = [f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{html.escape(aria)}">',
             f'<text class="title" x="{x0}" y="14">{html.escape(title)}</text>',
             f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}"/>',
             f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/>']
    for x, label in x_ticks:
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 4}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{y0 + 15}" text-anchor="middle">{html.escape(label)}</text>')
    for y, label in y_ticks:
        parts.append(f'<line class="grid" x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{html.escape(label)}</text>')
    parts.append(f'<text class="label" x="{(x0 + x1) / 2}" y="{_H - 6}" text-anchor="middle">{html.escape(x_label)}</text>')
    parts.append(f'<text class="label" transform="translate(12 {(y0 + y1) / 2}) rotate(-90)" '
                 f'text-anchor="middle">{html.escape(y_label)}</text>')
    return "".join(parts), "</svg>"


def _legend(series: Sequence[tuple[str, str, bool]]) -> str:
    """Legend entries (label, CSS class, dashed) in a row under the title."""
    parts, x = [], _LEFT
    for label, css, dashed in series:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(f'<line class="line {css}" x1="{x}" y1="28" x2="{x + 18}" y2="28"{dash}/>'
                     f'<text class="tick" x="{x + 22}" y="32">{html.escape(label)}</text>')
        x += 6 * len(label) + 40
    return "".join(parts)


def line_chart(title: str, series: Sequence[Series], *, x_label: str, y_label: str, percent: bool = True,
               y_high: float | None = None) -> str:
    """Lines over a shared x axis (from 0 to the largest x), y from 0 to y_high (else the data's maximum)."""
    xs = [x for s in series for x in s.xs]
    x_max = max(xs, default=1) or 1
    y_ticks = nice_ticks(y_high if y_high is not None else max((y for s in series for y in s.ys), default=0.0))
    y_max = y_ticks[-1]
    sx = (_W - _RIGHT - _LEFT) / x_max
    sy = (_H - _BOTTOM - _TOP) / y_max

    def px(x: float) -> float:
        return _LEFT + x * sx

    def py(y: float) -> float:
        return _H - _BOTTOM - y * sy

    head, tail = _frame(title, x_label, y_label, [(px(t), _fmt(t, False)) for t in nice_ticks(x_max, 8)],
                        [(py(t), _fmt(t, percent)) for t in y_ticks], f"{title}: {y_label} by {x_label}")
    lines = []
    for s in series:
        if not s.xs:
            continue
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(s.xs, s.ys))
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        lines.append(f'<polyline class="line {s.css}" points="{points}"{dash}>'
                     f"<title>{html.escape(s.label)}</title></polyline>")
    return head + "".join(lines) + _legend([(s.label, s.css, s.dashed) for s in series]) + tail


def bar_chart(title: str, groups: Sequence[str], series: Sequence[Series], *, x_label: str, y_label: str) -> str:
    """Grouped bars: one group per label in `groups`, one bar per series inside each group (series
    i's ys[g] is its value in group g), y as a share."""
    y_ticks = nice_ticks(max((y for s in series for y in s.ys), default=0.0))
    y_max = y_ticks[-1]
    span = (_W - _RIGHT - _LEFT) / max(len(groups), 1)
    bar = span * 0.8 / max(len(series), 1)
    sy = (_H - _BOTTOM - _TOP) / y_max
    head, tail = _frame(title, x_label, y_label, [(_LEFT + (g + 0.5) * span, label) for g, label in enumerate(groups)],
                        [(_H - _BOTTOM - t * sy, _fmt(t, True)) for t in y_ticks], f"{title}: {y_label} by {x_label}")
    rects = []
    for i, s in enumerate(series):
        for g, y in enumerate(s.ys):
            x = _LEFT + g * span + span * 0.1 + i * bar
            rects.append(f'<rect class="bar {s.css}" x="{x:.1f}" y="{_H - _BOTTOM - y * sy:.1f}" width="{bar * 0.9:.1f}" '
                         f'height="{y * sy:.1f}"><title>{html.escape(f"{s.label}, rank {groups[g]}: {_fmt(y, True)}")}'
                         "</title></rect>")
    return head + "".join(rects) + _legend([(s.label, s.css, False) for s in series]) + tail
