"""A world map of an image's predicted places (top-k) beside its true place, with a legend."""

from __future__ import annotations

import html

import folium
from branca.element import MacroElement
from folium.template import Template

from geoapp.viz.maps import OfflineMap

__all__ = [
    "BEST_COLOR",
    "MAX_FIT_ZOOM",
    "MIN_VIEW_SPAN_DEG",
    "OTHER_COLOR",
    "TRUTH_COLOR",
    "MarkerLegend",
    "dateline_segments",
    "legend_text",
    "prediction_map",
    "view_bounds",
]

BEST_COLOR = "#ffeb3b"
"""Ring of the best (#1) prediction: yellow, and larger than the others."""
OTHER_COLOR = "#ff9800"
"""Rings of predictions #2 onwards: orange."""
TRUTH_COLOR = "#e53935"
"""Fill of the true place's dot: red, with a white edge."""

MIN_VIEW_SPAN_DEG = 40.0
"""Least height and width, degrees, of the view the map is fitted to (about 4,400 km at the equator).

Predictions that cluster tightly would otherwise make the map zoom in until the coarse Blue Marble
basemap shows no landmark to tell where on Earth the view is.
"""
MAX_FIT_ZOOM = 4
"""Closest zoom the fit may choose (a 460 px tall map then still spans about 40 degrees of latitude)."""
_PAD_DEG = 8.0
"""Margin around the markers, degrees, before the view is widened to :data:`MIN_VIEW_SPAN_DEG`."""
_MAX_LAT = 80.0
"""The view stays within +-80 degrees of latitude (Web Mercator stretches the poles)."""


def prediction_map(
    predictions: list[tuple[float, float, float]],
    truth: tuple[float, float] | None = None,
    basemap_url: str | None = None,
    bounds: list[list[float]] | None = None,
    height: int = 460,
) -> OfflineMap:
    """Top-k predictions as numbered rings (the best one larger) and the true place, with a legend.

    The true place is a filled dot with a line to the best prediction. The map is fitted to the markers,
    but never to a view narrower than :data:`MIN_VIEW_SPAN_DEG` (see :func:`view_bounds`).

    Args:
        predictions: [(lat, lon, score)] best first.
        truth: (lat, lon) of the true place, if known.
        basemap_url: Web-Mercator world image (data URL) drawn under the markers.
        bounds: the basemap's [[south, west], [north, east]].
        height: map height in pixels.
    """
    m = OfflineMap(location=(20.0, 0.0), zoom_start=1, tiles=None, height=height, min_zoom=1)
    if basemap_url and bounds:
        folium.raster_layers.ImageOverlay(basemap_url, bounds=bounds, opacity=1.0, name="basemap").add_to(m)
    for rank, (lat, lon, score) in reversed(list(enumerate(predictions, start=1))):
        folium.CircleMarker(
            (lat, lon),
            radius=11 if rank == 1 else 7,
            color=BEST_COLOR if rank == 1 else OTHER_COLOR,
            weight=3,
            fill=False,
            tooltip=f"#{rank}: {lat:.2f}, {lon:.2f} (score {score:.3f})",
        ).add_to(m)
    if truth is not None:
        folium.CircleMarker(
            truth,
            radius=6,
            color="#ffffff",
            weight=2,
            fill=True,
            fill_color=TRUTH_COLOR,
            fill_opacity=1.0,
            tooltip=f"true place: {truth[0]:.2f}, {truth[1]:.2f}",
        ).add_to(m)
        if predictions:
            line = dateline_segments(truth, predictions[0][:2])
            folium.PolyLine(line, color="#ffffff", weight=2, dash_array="6").add_to(m)
    points = [p[:2] for p in predictions] + ([truth] if truth else [])
    if points:
        m.fit_bounds(view_bounds(points), max_zoom=MAX_FIT_ZOOM)
        MarkerLegend(len(predictions), truth is not None).add_to(m)
    return m


def _widen(lo: float, hi: float, span: float, floor: float, ceil: float) -> tuple[float, float]:
    """[lo, hi] clipped to [floor, ceil], then widened about its middle to at least ``span``, inside [floor, ceil]."""
    lo, hi = max(lo, floor), min(hi, ceil)
    if hi - lo < span:
        mid = (lo + hi) / 2
        lo, hi = mid - span / 2, mid + span / 2
        if lo < floor:
            lo, hi = floor, floor + span
        elif hi > ceil:
            lo, hi = ceil - span, ceil
    return lo, hi


def view_bounds(
    points: list[tuple[float, float]], pad: float = _PAD_DEG, min_span: float = MIN_VIEW_SPAN_DEG
) -> list[list[float]]:
    """[[south, west], [north, east]] holding ``points`` ((lat, lon) degrees) with ``pad`` degrees around them.

    Latitude stays within +-80 and longitude within +-180; a box narrower or shorter than ``min_span``
    degrees is widened about its middle (shifted inwards at the map's edges) to ``min_span``, so that a
    tight cluster of markers is still shown in a view a few thousand km wide.
    """
    if not points:
        raise ValueError("view_bounds needs at least one point")
    lats, lons = [float(p[0]) for p in points], [float(p[1]) for p in points]
    south, north = _widen(min(lats) - pad, max(lats) + pad, min_span, -_MAX_LAT, _MAX_LAT)
    west, east = _widen(min(lons) - pad, max(lons) + pad, min_span, -180.0, 180.0)
    return [[south, west], [north, east]]


def legend_text(k: int, truth: bool) -> str:
    """The markers in words, for a caption under the map: the true place (when known) and the top-``k`` rings."""
    parts = ["red dot: true place"] if truth else []
    if k == 1:
        parts.append("yellow ring: the prediction")
    elif k > 1:
        others = "#2" if k == 2 else f"#2-#{k}"
        parts.append(f"rings: top-{k} predictions (#1 larger, yellow; {others} orange; hover a ring for its rank)")
    if truth and k:
        parts.append("dashed line: true place to #1")
    return " · ".join(parts)


def _swatch(size: int, border: str, fill: str = "transparent", width: int = 3) -> str:
    return (
        f'<span style="display:inline-block;box-sizing:border-box;width:{size}px;height:{size}px;border-radius:50%;'
        f'border:{width}px solid {border};background:{fill};vertical-align:middle;margin-right:6px"></span>'
    )


class MarkerLegend(MacroElement):
    """A small legend in the map's corner (a Leaflet control): the true place's dot and the prediction rings.

    Its script adds the control to the map, so it shows both in the full HTML (``get_root().render()``)
    and in the script streamlit-folium builds from the map's children.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
            {{ this.get_name() }}.onAdd = function () {
                var div = L.DomUtil.create("div", "geoapp-map-legend");
                div.innerHTML = {{ this.html|tojson }};
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, k: int, truth: bool, position: str = "bottomleft") -> None:
        super().__init__()
        self._name = "MarkerLegend"
        self.position = position
        rows = []
        if truth:
            rows.append((_swatch(12, "#ffffff", TRUTH_COLOR, 2), "true place"))
        if k >= 1:
            rows.append((_swatch(18, BEST_COLOR), "#1 prediction (best)" if k > 1 else "prediction"))
        if k >= 2:
            rows.append((_swatch(14, OTHER_COLOR), f"#2-#{k} predictions" if k > 2 else "#2 prediction"))
        if truth and k >= 1:
            rows.append(
                (
                    '<span style="display:inline-block;width:18px;border-top:2px dashed #ffffff;'
                    'vertical-align:middle;margin-right:6px"></span>',
                    "true place to #1",
                )
            )
        self.html = (
            '<div style="background:rgba(0,0,0,0.65);color:#fff;font:12px/18px sans-serif;padding:6px 8px;'
            'border-radius:4px">' + "".join(f"<div>{swatch}{html.escape(text)}</div>" for swatch, text in rows) + "</div>"
        )


def dateline_segments(a: tuple[float, float], b: tuple[float, float]) -> list[list[tuple[float, float]]]:
    """The shorter way from ``a`` to ``b`` ((lat, lon) degrees) as line segments on a map of one world.

    Points more than 180 degrees of longitude apart are nearer across the antimeridian: the line is cut
    where it crosses +-180 (latitude interpolated linearly in longitude), so that it does not run the
    width of the map. Returns one segment, or two.
    """
    (lat1, lon1), (lat2, lon2) = (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
    if abs(lon2 - lon1) <= 180.0:
        return [[(lat1, lon1), (lat2, lon2)]]
    unwrapped = lon2 + (360.0 if lon2 < lon1 else -360.0)  # b's longitude on a's side of the antimeridian
    edge = 180.0 if unwrapped > lon1 else -180.0
    lat = lat1 + (edge - lon1) / (unwrapped - lon1) * (lat2 - lat1)
    return [[(lat1, lon1), (lat, edge)], [(lat, -edge), (lat2, lon2)]]
