"""geoapp.viz.probe_map: the probe's world map draws offline (no plotly geo, no topojson from a CDN) and keeps its views."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geoapp.viz.probe_map import BORDER_COLOR, COASTLINE_COLOR, PROBE_VIEWS, outline_xy, probe_map

FIELD = "distance to the coast (km)"


@pytest.fixture(scope="module")
def probe() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    points = np.c_[rng.uniform(-60.0, 80.0, 500), rng.uniform(-180.0, 180.0, 500)]  # lat, lon
    true = rng.uniform(0.0, 1500.0, 500)
    return points, true, true + rng.normal(0.0, 100.0, 500)


def _strings(node: object) -> list[str]:
    """Every key and string value of a JSON tree, the base64 of typed arrays (``bdata``) left out."""
    if isinstance(node, dict):
        return [s for k, v in node.items() if k != "bdata" for s in (k, *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize("view", PROBE_VIEWS)
def test_the_map_needs_nothing_from_the_network(probe, view):
    fig = probe_map(*probe, view, FIELD, f"{view}: SatCLIP")
    spec = json.loads(fig.to_json())
    assert "geo" not in spec["layout"] and "mapbox" not in spec["layout"] and "map" not in spec["layout"]
    assert [t["type"] for t in spec["data"]] == ["scatter", "scatter", "scatter"]  # no scattergeo: no topojson to fetch
    for s in _strings(spec):
        low = s.lower()
        assert "http" not in low and "cdn" not in low and "topojson" not in low and "//" not in low, s


def test_the_views_keep_their_colours_hover_and_title(probe):
    points, true, predicted = probe
    for view in PROBE_VIEWS:
        fig = probe_map(points, true, predicted, view, FIELD, f"{view}: SatCLIP")
        borders, coasts, dots = fig.data
        assert (borders.name, borders.line.color, coasts.name, coasts.line.color) == (
            "borders",
            BORDER_COLOR,
            "coastlines",
            COASTLINE_COLOR,
        )
        assert borders.hoverinfo == coasts.hoverinfo == "skip" and dots.mode == "markers"
        np.testing.assert_array_equal(dots.x, points[:, 1])  # x: longitude
        np.testing.assert_array_equal(dots.y, points[:, 0])  # y: latitude
        assert dots.hovertemplate == "%{y:.2f}, %{x:.2f}: %{marker.color:,.0f}<extra></extra>"
        assert fig.layout.title.text == f"{view}: SatCLIP" and fig.layout.height == 460
        marker = dots.marker
        if view == "Error":
            np.testing.assert_allclose(marker.color, predicted - true)
            assert marker.colorscale[0][1] == "rgb(5,48,97)"  # RdBu_r: blue for under-predictions
            assert marker.cmax > 0 and marker.cmin == -marker.cmax and marker.colorbar.title.text == f"error of the {FIELD}"
        else:
            np.testing.assert_allclose(marker.color, true if view == "True" else predicted)
            assert marker.colorscale[0][1] == "#440154"  # Viridis
            assert marker.cmin == 0.0 and marker.cmax == pytest.approx(np.percentile(true, 98))  # one scale for both
            assert marker.colorbar.title.text == (FIELD if view == "True" else f"predicted {FIELD}")
    assert list(fig.layout.xaxis.range) == [-180, 180] and list(fig.layout.yaxis.range) == [-90, 90]
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1  # a degree is as tall as it is wide


@pytest.mark.parametrize("kind", ["coastlines", "borders"])
def test_outlines_are_gapped_paths_that_never_cross_the_map(kind):
    lon, lat = outline_xy(kind)
    assert lon.dtype == lat.dtype == np.float32 and lon.shape == lat.shape and len(lon) > 5000
    gaps = np.isnan(lon)
    np.testing.assert_array_equal(gaps, np.isnan(lat))
    assert gaps[-1] and gaps.sum() > 100 and not (gaps[1:] & gaps[:-1]).any()  # one gap after each path
    assert np.nanmin(lon) >= -180 and np.nanmax(lon) <= 180 and np.nanmin(lat) >= -90 and np.nanmax(lat) <= 90
    steps = np.abs(np.diff(lon))
    assert np.nanmax(steps) <= 180.0  # a path that reaches the antimeridian stops there; none runs across the map
    with pytest.raises(ValueError, match="not 'coastlines' or 'borders'"):
        outline_xy("rivers")
