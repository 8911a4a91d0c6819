"""The geolocation map: a line from the true place to the best prediction takes the shorter way round."""

from __future__ import annotations

import pytest

from geoapp.viz.geolocation_map import dateline_segments, prediction_map


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
