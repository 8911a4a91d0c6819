"""Choropleth classification: a continuous colour scale cut into classes by a mapclassify scheme.

A classed map groups the counties into ``k`` classes whose breaks come from one scheme (equal
interval, quantiles, natural breaks: the schemes leafmap's ``classify`` offers, through the same
library, mapclassify). The breaks are computed once on *reference* values, e.g. every labelled
yield of the dataset, so that the true and the predicted map share them, as they share the
continuous scale. Each class takes the colour its midpoint has on the continuous scale it refines:
a diverging error scale keeps white at 0.

Natural breaks are Jenks's optimal breaks (mapclassify's ``FisherJenks``: deterministic, unlike its
k-means ``NaturalBreaks``). Fisher-Jenks costs O(n^2) in pure Python (mapclassify uses numba only
when installed, and geoapp does not install it: 13,600 labelled yields took over a minute), so a
reference of more than :data:`SUMMARY_SIZE` values is first summarised by that many evenly spaced
quantiles (its minimum and maximum included). On the demo data the natural breaks then take 0.5 s
and land within 0.3 bu/acre of those over a 2,000-quantile summary, but for the lowest break, in
the sparse left tail, which moves by 1.8; equal intervals and quantiles do not move.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass

import numpy as np
from plotly.colors import sample_colorscale

from geoapp.errors import InputError
from geoapp.viz.colors import NO_DATA_COLOR, ColorScale

__all__ = ["CONTINUOUS", "SCHEMES", "ClassedScale", "classed_scale"]

CONTINUOUS = "Continuous"
"""The scheme name that keeps the continuous scale (no classes)."""

SCHEMES: dict[str, str | None] = {
    CONTINUOUS: None,
    "Equal interval": "EqualInterval",
    "Quantiles": "Quantiles",
    "Natural breaks": "FisherJenks",
}
"""Scheme names shown to users -> mapclassify classifier names (None: the continuous scale)."""
SUMMARY_SIZE = 500
"""The most reference values a scheme sees; more are summarised by as many quantiles."""


@dataclass(frozen=True)
class ClassedScale:
    """A colour scale of classes: value ``v`` falls in class ``i`` when ``edges[i] < v <= edges[i + 1]``.

    Values below the first edge go to the first class, above the last to the last (the breaks come
    from reference values, and a prediction may fall outside them).

    Attributes:
        scheme: the scheme's display name (a key of :data:`SCHEMES`).
        edges: ``k + 1`` increasing class edges, in the values' units.
        class_colors: ``k`` CSS colours, one per class.
        label: legend title with units, e.g. ``"Yield (bu/acre)"``.
    """

    scheme: str
    edges: tuple[float, ...]
    class_colors: tuple[str, ...]
    label: str

    def classes(self, values: np.ndarray) -> np.ndarray:
        """Class index (0..k-1) of each value; -1 for NaN."""
        v = np.asarray(values, dtype=float)
        inner = np.asarray(self.edges[1:-1], dtype=float)
        idx = np.searchsorted(inner, v, side="left")  # v <= edge i+1 -> class i
        return np.where(np.isfinite(v), idx, -1)

    def colors(self, values: np.ndarray) -> list[str]:
        """One CSS colour per value (its class's); NaN gets :data:`NO_DATA_COLOR`."""
        return [self.class_colors[i] if i >= 0 else NO_DATA_COLOR for i in self.classes(values)]

    def legend_html(self) -> str:
        """A small HTML legend: one swatch per class with its range, under the title and the scheme's name."""
        span = self.edges[-1] - self.edges[0]
        decimals = 0 if span >= 20 else 1 if span >= 2 else 2
        rows = "".join(
            f'<span style="display:inline-flex;align-items:center;margin-right:10px">'
            f'<span style="display:inline-block;width:14px;height:12px;background:{c};border-radius:2px;'
            f'margin-right:4px"></span>{lo:.{decimals}f} – {hi:.{decimals}f}</span>'
            for c, lo, hi in zip(self.class_colors, self.edges[:-1], self.edges[1:], strict=True)
        )
        return (
            f'<div class="geoapp-legend" style="font-size:0.8rem">{html.escape(self.label)} '
            f"<i>({html.escape(self.scheme.lower())}, {len(self.class_colors)} classes)</i>"
            f'<div style="display:flex;flex-wrap:wrap">{rows}</div></div>'
        )


def classed_scale(reference: np.ndarray, scale: ColorScale, scheme: str, k: int = 5) -> ClassedScale | ColorScale:
    """The classes of ``scheme`` over the finite ``reference`` values, coloured from ``scale``.

    Args:
        reference: values the breaks are computed on (any shape; NaN skipped), in ``scale``'s units.
        scale: the continuous scale the classes refine (its colours, its label).
        scheme: a key of :data:`SCHEMES`; :data:`CONTINUOUS` returns ``scale`` itself.
        k: number of classes (2..9); fewer when the reference has fewer distinct values.

    Raises:
        InputError: an unknown scheme, ``k`` out of range, or no finite reference value to classify.
    """
    if scheme not in SCHEMES:
        raise InputError(f"unknown classification scheme {scheme!r}; expected one of {list(SCHEMES)!r}")
    if SCHEMES[scheme] is None:
        return scale
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 9:
        raise InputError(f"number of classes must be a whole number from 2 to 9, got {k!r}")
    ref = np.asarray(reference, dtype=float).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        raise InputError(f"no finite value to classify by {scheme.lower()} for {scale.label!r}")
    import mapclassify  # imported here: it takes a second, and only a classed map needs it

    if ref.size > SUMMARY_SIZE:
        ref = np.quantile(ref, np.linspace(0.0, 1.0, SUMMARY_SIZE))
    k = min(k, int(np.unique(ref).size))
    if k < 2:  # one distinct value: one class
        edges = (float(ref.min()), float(ref.max()))
    else:
        with warnings.catch_warnings():  # the summary keeps pure Python fast enough (module docstring)
            warnings.filterwarnings("ignore", message="Numba not installed", category=UserWarning)
            binning = mapclassify.classify(ref, SCHEMES[scheme], k=k)
        edges = (float(ref.min()), *(float(b) for b in binning.bins))
    edges = tuple(np.maximum.accumulate(np.asarray(edges)).tolist())  # increasing even if a scheme repeats a break
    mids = (np.asarray(edges[:-1]) + np.asarray(edges[1:])) / 2.0
    span = scale.vmax - scale.vmin if scale.vmax > scale.vmin else 1.0
    t = np.clip((mids - scale.vmin) / span, 0.0, 1.0)
    return ClassedScale(scheme, edges, tuple(sample_colorscale(scale.name, t.tolist())), scale.label)
