"""The geolocation map: a line from the true place to the best prediction takes the shorter way round,
a legend names the markers, and a tight cluster of markers is still shown in a wide view."""

from __future__ import annotations

import folium
import pytest
from folium.map import FitBounds
from streamlit_folium import _get_map_string

from geoapp.viz.geolocation_map import (
    BEST_COLOR,
    MAX_FIT_ZOOM,
    MIN_VIEW_SPAN_DEG,
    OTHER_COLOR,
    TRUTH_COLOR,
    MarkerLegend,
    dateline_segments,
    legend_text,
    prediction_map,
    view_bounds,
)


def test_a_line_across_the_antimeridian_is_cut_there_not_drawn_across_the_world():
    (first, second) = dateline_segments((0.0, 179.0), (10.0, -179.0))
    assert first == [(0.0, 179.0), (pytest.approx(5.0), 180.0)]  # half way in longitude: half way in latitude
    assert second == [(pytest.approx(5.0), -180.0), (10.0, -179.0)]
    (west, east) = dateline_segments((-20.0, -170.0), (-10.0, 170.0))  # the other way round
    assert west[1][1] == -180.0 and east[0][1] == 180.0 and west[1][0] == pytest.approx(-15.0)
    assert dateline_segments((40.0, 10.0), (50.0, 170.0)) == [[(40.0, 10.0), (50.0, 170.0)]]  # 160 degrees: as it is


def test_the_prediction_map_draws_the_cut_line():
    html = prediction_map([(10.0, -179.0, 0.9)], truth=(0.0, 179.0)).get_root().render()
    assert "[[[0.0, 179.0], [5.0, 180.0]], [[5.0, -180.0], [10.0, -179.0]]]" in html


def _child(m, kind):
    """The one child of map ``m`` of class ``kind``."""
    (found,) = [c for c in m._children.values() if isinstance(c, kind)]
    return found


def _markers(m) -> list[folium.CircleMarker]:
    return [c for c in m._children.values() if isinstance(c, folium.CircleMarker)]


def test_the_legend_names_each_marker_in_its_own_colour_and_reaches_streamlit_folium():
    preds = [(10.0, 20.0, 0.9), (30.0, 40.0, 0.8), (-5.0, 60.0, 0.7)]
    m = prediction_map(preds, truth=(12.0, 22.0))
    legend = _child(m, MarkerLegend)
    # the colours the legend shows are those the markers are drawn in
    colours = {c.options.get("color") for c in _markers(m)} | {c.options.get("fillColor") for c in _markers(m)}
    assert {BEST_COLOR, OTHER_COLOR, TRUTH_COLOR} <= colours
    for colour, text in [(TRUTH_COLOR, "true place"), (BEST_COLOR, "#1 prediction (best)"), (OTHER_COLOR, "#2-#3 predictions")]:
        assert colour in legend.html and text in legend.html
    assert "true place to #1" in legend.html  # the dashed line
    script = _get_map_string(m)  # what streamlit-folium runs in the browser
    assert f"var {legend.get_name()} = L.control(" in script and f"{legend.get_name()}.addTo(" in script
    assert "geoapp-map-legend" in m.get_root().render()  # and the full HTML


def test_the_legend_lists_only_the_markers_drawn():
    no_truth = _child(prediction_map([(10.0, 20.0, 0.9), (11.0, 21.0, 0.8)]), MarkerLegend).html
    assert "true place" not in no_truth and TRUTH_COLOR not in no_truth
    assert "#1 prediction (best)" in no_truth and "#2 prediction" in no_truth and "#2-#" not in no_truth
    single = _child(prediction_map([(10.0, 20.0, 0.9)], truth=(0.0, 0.0)), MarkerLegend).html
    assert "true place" in single and ">prediction<" in single and OTHER_COLOR not in single
    assert not [c for c in prediction_map([])._children.values() if isinstance(c, MarkerLegend)]  # nothing to explain


def test_legend_text_describes_the_markers_for_a_caption():
    text = legend_text(5, truth=True)
    assert "red dot: true place" in text and "top-5 predictions" in text and "#2-#5 orange" in text
    assert "#1 larger, yellow" in text and "dashed line" in text
    assert legend_text(2, truth=False) == "rings: top-2 predictions (#1 larger, yellow; #2 orange; hover a ring for its rank)"
    assert legend_text(1, truth=False) == "yellow ring: the prediction"


def _fit(m) -> tuple[list[list[float]], dict]:
    fit = _child(m, FitBounds)
    return fit.bounds, fit.options


def test_a_tight_cluster_is_shown_in_a_view_thousands_of_km_wide():
    preds = [(48.80, 2.30, 0.9), (48.90, 2.40, 0.8), (48.85, 2.20, 0.7)]  # all within Paris
    (south, west), (north, east) = _fit(prediction_map(preds, truth=(48.86, 2.35)))[0]
    assert north - south == pytest.approx(MIN_VIEW_SPAN_DEG) and east - west == pytest.approx(MIN_VIEW_SPAN_DEG)
    assert MIN_VIEW_SPAN_DEG >= 40  # at 49 N: about 2,900 km east-west, 4,400 km north-south
    assert (south + north) / 2 == pytest.approx(48.85) and (west + east) / 2 == pytest.approx(2.30)  # centred
    options = _fit(prediction_map(preds))[1]
    assert options == {"maxZoom": MAX_FIT_ZOOM} and MAX_FIT_ZOOM <= 4


def test_a_spread_of_places_keeps_the_padded_box_around_them():
    preds = [(-30.0, -100.0, 0.9), (50.0, 120.0, 0.8)]
    assert _fit(prediction_map(preds, truth=(10.0, 0.0)))[0] == [[-38.0, -108.0], [58.0, 128.0]]


@pytest.mark.parametrize(
    "points, expected",
    [
        ([(78.0, 175.0)], [[40.0, 140.0], [80.0, 180.0]]),  # shifted in from the top and the antimeridian
        ([(89.0, -179.0)], [[40.0, -180.0], [80.0, -140.0]]),  # a point beyond the map's 80 N still gets a view
        ([(-75.0, 0.0), (-70.0, 1.0)], [[-80.0, -19.5], [-40.0, 20.5]]),
    ],
)
def test_the_view_stays_on_the_map_and_keeps_its_least_span_at_the_edges(points, expected):
    assert view_bounds(points) == [[pytest.approx(v) for v in corner] for corner in expected]
