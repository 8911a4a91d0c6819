"""Tests for geoapp.viz.colors: colour scales and their legends."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from plotly.colors import hex_to_rgb, sequential

from geoapp.viz.colors import NO_DATA_COLOR, ColorScale, diverging_scale, sequential_scale


def rgb(hex_colour: str) -> str:
    r, g, b = hex_to_rgb(hex_colour)
    return f"rgb({r}, {g}, {b})"


def parse_rgb(c: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"rgb\((\d+), ?(\d+), ?(\d+)\)", c)
    assert m, c
    return tuple(int(v) for v in m.groups())  # type: ignore[return-value]


VIRIDIS_LOW, VIRIDIS_HIGH = rgb(sequential.Viridis[0]), rgb(sequential.Viridis[-1])


def test_colors_map_range_ends_nan_and_clip():
    s = ColorScale("Viridis", 20.0, 60.0, "Yield (bu/acre)")
    out = s.colors(np.array([20.0, 60.0, np.nan, -5.0, 200.0, 40.0, np.inf, -np.inf]))
    assert len(out) == 8
    assert out[0] == VIRIDIS_LOW and out[1] == VIRIDIS_HIGH
    assert out[2] == NO_DATA_COLOR == "#d9d9d9"
    assert out[3] == VIRIDIS_LOW and out[4] == VIRIDIS_HIGH  # clipped
    assert out[5] not in (VIRIDIS_LOW, VIRIDIS_HIGH)
    parse_rgb(out[5])
    assert out[6] == VIRIDIS_HIGH and out[7] == VIRIDIS_LOW  # infinities clip like large values


def test_colors_accepts_lists_and_series():
    import pandas as pd

    s = ColorScale("Viridis", 0.0, 1.0, "x")
    assert s.colors([0.0, 1.0]) == [VIRIDIS_LOW, VIRIDIS_HIGH]
    assert s.colors(pd.Series([np.nan, 0.0])) == [NO_DATA_COLOR, VIRIDIS_LOW]
    assert s.colors([np.nan, np.nan]) == [NO_DATA_COLOR] * 2
    assert s.colors([]) == []


def test_colors_are_monotonic_along_viridis():
    # Viridis brightens from low to high: the green channel rises monotonically
    s = ColorScale("Viridis", 0.0, 10.0, "x")
    greens = [parse_rgb(c)[1] for c in s.colors(np.linspace(0, 10, 21))]
    assert all(b >= a for a, b in itertools.pairwise(greens))
    assert greens[-1] - greens[0] > 200


def test_degenerate_range_does_not_divide_by_zero():
    s = ColorScale("Viridis", 5.0, 5.0, "x")
    out = s.colors([4.0, 5.0, 6.0])
    assert out == [VIRIDIS_LOW, VIRIDIS_LOW, VIRIDIS_HIGH]


def test_sequential_scale_percentiles():
    v = np.concatenate([np.arange(101.0), [np.nan, 1e6, -1e6]])
    s = sequential_scale(v, "Yield (bu/acre)")
    assert s.name == "Viridis" and s.label == "Yield (bu/acre)"
    # outliers beyond the 2..98th percentiles do not stretch the scale; ends are whole numbers
    assert -5.0 <= s.vmin <= 3.0 and 97.0 <= s.vmax <= 105.0
    assert s.vmin == int(s.vmin) and s.vmax == int(s.vmax)
    assert sequential_scale(np.array([np.nan]), "x") == ColorScale("Viridis", 0.0, 1.0, "x")


def test_diverging_scale_symmetric_about_zero():
    v = np.array([-3.0, 1.0, 2.0, 5.0, np.nan, -8.0])
    s = diverging_scale(v, "Error (bu/acre)")
    assert s.name == "RdBu_r" and s.label == "Error (bu/acre)"
    assert s.vmin == -s.vmax and s.vmax > 0
    assert s.vmax == pytest.approx(np.percentile([3.0, 1.0, 2.0, 5.0, 8.0], 98.0))
    lo, mid, hi = s.colors([s.vmin, 0.0, s.vmax])
    assert mid == s.colors([0.0])[0]
    # zero is the neutral middle of RdBu_r: (nearly) white; the ends are blue (low) and red (high)
    r, g, b = parse_rgb(mid)
    assert min(r, g, b) > 230
    assert parse_rgb(lo)[2] > parse_rgb(lo)[0] and parse_rgb(hi)[0] > parse_rgb(hi)[2]
    # opposite signs get different colours
    assert s.colors([-2.0])[0] != s.colors([2.0])[0]


def test_diverging_scale_degenerate_inputs():
    assert diverging_scale(np.zeros(5), "x").vmax == pytest.approx(1e-9)
    assert diverging_scale(np.array([np.nan]), "x").vmax == 1.0


def test_legend_html_contains_label_gradient_and_ticks():
    s = ColorScale("Viridis", 20.0, 60.0, "Yield (bu/acre)")
    html = s.legend_html()
    assert "Yield (bu/acre)" in html
    assert "linear-gradient(to right," in html
    assert VIRIDIS_LOW in html and VIRIDIS_HIGH in html
    assert re.findall(r"<span>([^<]*)</span>", html) == ["20", "30", "40", "50", "60"]
    assert len(re.findall(r"<span>", s.legend_html(steps=3))) == 3


def test_legend_ticks_are_distinct_for_small_ranges():
    s = diverging_scale(np.array([-0.4, 0.1, 0.4]), "NDVI error")
    ticks = re.findall(r"<span>([^<]*)</span>", s.legend_html())
    assert len(set(ticks)) == len(ticks)


def test_legend_ticks_say_where_the_colours_are():
    """A diverging scale reaching +-4.6: its end swatch reads 4.6, not 5 (13% off at the inner ticks)."""
    s = ColorScale("RdBu_r", -4.6, 4.6, "Predicted − true (bu/acre)")
    assert re.findall(r"<span>([^<]*)</span>", s.legend_html()) == ["-4.6", "-2.3", "0.0", "2.3", "4.6"]
    wide = ColorScale("Viridis", 100.0, 250.0, "Yield (bu/acre)")  # 137.5 reads 138: within 1% of the span
    assert re.findall(r"<span>([^<]*)</span>", wide.legend_html()) == ["100", "138", "175", "212", "250"]
