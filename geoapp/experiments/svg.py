"""Small SVG charts (a line chart, a bar chart, a heatmap) for the experiments report in ``docs/``.

Why hand-written SVG: the report must build offline and in CI, and plotly's static export needs kaleido
(a Chrome-based exporter that is not installed, and that cannot download Chrome here), matplotlib is not
a dependency, and a markdown file cannot show a plotly figure. Three chart kinds with a few dozen marks
each are simple enough to write as text; the files are small, diffable, and GitHub shows them inline.
The app's page draws the same data with plotly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["line_chart", "bar_chart", "heatmap"]

_W, _H = 640, 360
_L, _R, _T, _B = 64, 150, 48, 48  # margins: axis labels left/bottom, legend right, title top
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``lo..hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= n:
            step *= mult
            break
    first = math.floor(lo / step) * step
    return [round(first + i * step, 10) for i in range(int(math.ceil((hi - first) / step)) + 1)]


def _frame(title: str, subtitle: str, y_label: str, x_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_L}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{_L}" y="34" fill="#b00">{escape(subtitle)}</text>',
        f'<text x="14" y="{_T + (_H - _T - _B) / 2}" transform="rotate(-90 14 {_T + (_H - _T - _B) / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
        f'<text x="{_L + (_W - _L - _R) / 2}" y="{_H - 8}" text-anchor="middle">{escape(x_label)}</text>',
    ]


def _y_axis(lo: float, hi: float) -> tuple[list[str], float, float]:
    """Grid lines and labels of the y axis; returns them and the axis range."""
    ticks = _ticks(lo, hi)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    out = []
    for t in ticks:
        y = _y(t, lo, hi)
        out.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{_L - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
    return out, lo, hi


def _y(value: float, lo: float, hi: float) -> float:
    return _H - _B - (value - lo) / (hi - lo) * (_H - _T - _B)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    subtitle: str,
    x_label: str,
    y_label: str,
    descending: bool = True,
) -> str:
    """An SVG line chart: one line with markers per series of (x, y) points; x values are category ticks.

    The x ticks fall left to right (as N_y does in the paper's figures) or, with ``descending`` False,
    rise. Points with a non-finite y are left out. Returns the SVG text.
    """
    xs = sorted({x for pts in series.values() for x, _ in pts}, reverse=descending)
    ys = [y for pts in series.values() for _, y in pts if math.isfinite(y)]
    out = _frame(title, subtitle, y_label, x_label)
    grid, lo, hi = _y_axis(min(ys, default=0.0), max(ys, default=1.0))
    out += grid
    step = (_W - _L - _R) / max(len(xs), 1)
    px = {x: _L + step * (i + 0.5) for i, x in enumerate(xs)}
    for x, p in px.items():
        out.append(f'<text x="{p:.1f}" y="{_H - _B + 16}" text-anchor="middle">{x:g}</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        kept = sorted(((px[x], _y(y, lo, hi)) for x, y in pts if math.isfinite(y)), key=lambda p: p[0])
        if len(kept) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in kept)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="{colour}"/>' for a, b in kept]
        ly = _T + 16 * i + 8
        out.append(f'<rect x="{_W - _R + 12}" y="{ly - 8}" width="12" height="3" fill="{colour}"/>')
        out.append(f'<text x="{_W - _R + 30}" y="{ly - 3}">{escape(name)}</text>')
    return "\n".join([*out, "</svg>"]) + "\n"


def bar_chart(bars: Mapping[str, float], *, title: str, subtitle: str, x_label: str, y_label: str) -> str:
    """An SVG bar chart of one value per label (negative values go below zero). Returns the SVG text."""
    values = [v for v in bars.values() if math.isfinite(v)]
    out = _frame(title, subtitle, y_label, x_label)
    grid, lo, hi = _y_axis(min([0.0, *values]), max([0.0, *values]))
    out += grid
    zero = _y(0.0, lo, hi)
    out.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#333"/>')
    step = (_W - _L - _R) / max(len(bars), 1)
    for i, (label, value) in enumerate(bars.items()):
        x = _L + step * i + step * 0.15
        out.append(f'<text x="{x + step * 0.35:.1f}" y="{_H - _B + 16}" text-anchor="middle">{escape(label)}</text>')
        if not math.isfinite(value):
            out.append(f'<text x="{x + step * 0.35:.1f}" y="{zero - 6:.1f}" text-anchor="middle" fill="#888">missing</text>')
            continue
        top, bottom = sorted((zero, _y(value, lo, hi)))
        out.append(
            f'<rect x="{x:.1f}" y="{top:.1f}" width="{step * 0.7:.1f}" height="{max(bottom - top, 0.5):.1f}" '
            f'fill="{_COLOURS[0]}"/>'
        )
        out.append(f'<text x="{x + step * 0.35:.1f}" y="{top - 4:.1f}" text-anchor="middle">{value:+.3f}</text>')
    return "\n".join([*out, "</svg>"]) + "\n"


def _diverging(value: float, limit: float) -> str:
    """A colour for ``value`` in -limit..limit: blue below zero, white at zero, red above (clipped)."""
    t = max(-1.0, min(1.0, value / limit)) if limit > 0 else 0.0
    r, g, b = (255, round(255 * (1 - t)), round(255 * (1 - t))) if t >= 0 else (round(255 * (1 + t)), round(255 * (1 + t)), 255)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    cells: Mapping[str, Mapping[str, float]], columns: Sequence[str], *, title: str, subtitle: str, limit: float = 1.0
) -> str:
    """An SVG heatmap: one row per key of ``cells``, one column per ``columns`` entry, the value printed in its cell.

    Colours run from blue (-``limit``) through white (0) to red (+``limit``); a non-finite value is a grey
    cell marked "-". Returns the SVG text.
    """
    rows = list(cells)
    left, top, cell_w, cell_h = 150, 56, max(64, (_W - 150 - 16) // max(len(columns), 1)), 26
    width, height = left + cell_w * len(columns) + 16, top + 20 + cell_h * len(rows) + 12
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="8" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="8" y="34" fill="#b00">{escape(subtitle)}</text>',
    ]
    for j, col in enumerate(columns):
        out.append(f'<text x="{left + cell_w * (j + 0.5):.1f}" y="{top + 12}" text-anchor="middle">{escape(col)}</text>')
    for i, row in enumerate(rows):
        y = top + 20 + cell_h * i
        out.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end">{escape(row)}</text>')
        for j, col in enumerate(columns):
            value = cells[row].get(col, math.nan)
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            fill = _diverging(value, limit) if ok else "#eee"
            x = left + cell_w * j
            out.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"/>')
            text = f"{value:+.2f}" if ok else "-"
            out.append(f'<text x="{x + (cell_w - 2) / 2:.1f}" y="{y + cell_h / 2 + 3:.1f}" text-anchor="middle">{text}</text>')
    return "\n".join([*out, "</svg>"]) + "\n"
