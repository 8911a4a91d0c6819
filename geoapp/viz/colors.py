"""Colour scales shared by maps and charts: sequential for values, diverging (centred at 0) for errors."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from plotly.colors import sample_colorscale

__all__ = ["ColorScale", "sequential_scale", "diverging_scale", "NO_DATA_COLOR"]

NO_DATA_COLOR = "#d9d9d9"
"""Fill of counties without a value (withheld or unlabelled)."""


@dataclass(frozen=True)
class ColorScale:
    """A value range mapped onto a plotly colour scale.

    Attributes:
        name: plotly colour scale name (e.g. ``"Viridis"``, ``"RdBu_r"``).
        vmin, vmax: values mapped to the ends; values outside are clipped.
        label: legend title with units, e.g. ``"Yield (bu/acre)"``.
    """

    name: str
    vmin: float
    vmax: float
    label: str

    def colors(self, values: np.ndarray) -> list[str]:
        """One ``rgb(...)`` string per value; NaN gets :data:`NO_DATA_COLOR`."""
        v = np.asarray(values, dtype=float)
        span = self.vmax - self.vmin if self.vmax > self.vmin else 1.0
        t = np.clip((v - self.vmin) / span, 0.0, 1.0)
        finite = np.isfinite(t)
        out = [NO_DATA_COLOR] * len(v)
        if finite.any():
            sampled = sample_colorscale(self.name, t[finite].tolist())
            for i, c in zip(np.flatnonzero(finite), sampled, strict=True):
                out[i] = c
        return out

    def legend_html(self, steps: int = 5) -> str:
        """A small HTML legend: a gradient bar with ``steps`` tick labels and the title."""
        stops = sample_colorscale(self.name, np.linspace(0, 1, 11).tolist())
        gradient = ", ".join(stops)
        ticks = np.linspace(self.vmin, self.vmax, steps)
        step = (self.vmax - self.vmin) / max(steps - 1, 1)
        decimals = 0 if step >= 1 else int(np.ceil(-np.log10(step))) if step > 0 else 2
        tolerance = 0.01 * (self.vmax - self.vmin)  # a label may round its tick by 1% of the span, no more
        while decimals < 6 and np.any(np.abs(np.round(ticks, decimals) - ticks) > tolerance):
            decimals += 1  # e.g. +-4.6 would read +-5: one more decimal
        labels = "".join(f"<span>{round(float(t), decimals) + 0.0:.{decimals}f}</span>" for t in ticks)  # no "-0.0"
        return (
            f'<div style="font-size:0.8rem">{html.escape(self.label)}'
            f'<div style="height:12px;background:linear-gradient(to right,{gradient});border-radius:2px"></div>'
            f'<div style="display:flex;justify-content:space-between">{labels}</div></div>'
        )


def sequential_scale(values: np.ndarray, label: str, name: str = "Viridis", pct: float = 2.0) -> ColorScale:
    """A sequential scale spanning the ``pct``..``100 - pct`` percentiles of the finite ``values``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return ColorScale(name, 0.0, 1.0, label)
    lo, hi = np.percentile(v, [pct, 100 - pct])
    return ColorScale(name, float(np.floor(lo)), float(np.ceil(hi)), label)


def diverging_scale(values: np.ndarray, label: str, name: str = "RdBu_r", pct: float = 98.0) -> ColorScale:
    """A diverging scale symmetric about 0, reaching the ``pct`` percentile of ``|values|``."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    m = float(np.percentile(v, pct)) if v.size else 1.0
    m = max(m, 1e-9)
    return ColorScale(name, -m, m, label)
