"""A world map of a regression probe's held-out points: the true field, the prediction, or the error."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

__all__ = ["PROBE_VIEWS", "probe_map"]

PROBE_VIEWS = ("True", "Predicted", "Error")


def probe_map(points: np.ndarray, true: np.ndarray, predicted: np.ndarray, view: str, field: str, title: str) -> go.Figure:
    """Held-out points on a world map, coloured by the true value, the prediction or the error (predicted - true).

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
        go.Scattergeo(
            lat=points[:, 0],
            lon=points[:, 1],
            mode="markers",
            marker={"size": 4, "color": values, "colorbar": {"title": {"text": label, "side": "right"}}, **colours},
            hovertemplate="%{lat:.2f}, %{lon:.2f}: %{marker.color:,.0f}<extra></extra>",
        )
    )
    fig.update_geos(projection_type="natural earth", showcountries=True, countrycolor="#999", showland=True, landcolor="#eee")
    fig.update_layout(title=title, height=460, margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return fig
