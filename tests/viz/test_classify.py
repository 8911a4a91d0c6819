"""geoapp.viz.classify: mapclassify's schemes cut a colour scale into classes shared by the maps that use them."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.errors import InputError
from geoapp.viz.classify import CONTINUOUS, SCHEMES, ClassedScale, classed_scale
from geoapp.viz.colors import NO_DATA_COLOR, ColorScale, diverging_scale

SCALE = ColorScale("Viridis", 0.0, 100.0, "Yield (bu/acre)")
REFERENCE = np.concatenate([np.linspace(0, 40, 80), np.linspace(60, 100, 20)])


def test_continuous_keeps_the_scale():
    assert classed_scale(REFERENCE, SCALE, CONTINUOUS) is SCALE


@pytest.mark.parametrize("scheme", [s for s in SCHEMES if s != CONTINUOUS])
def test_each_scheme_gives_k_increasing_classes_over_the_reference(scheme):
    classed = classed_scale(REFERENCE, SCALE, scheme, k=5)
    assert isinstance(classed, ClassedScale) and classed.label == "Yield (bu/acre)"
    assert len(classed.class_colors) == 5 and len(classed.edges) == 6
    assert np.all(np.diff(classed.edges) >= 0) and classed.edges[0] == 0.0 and classed.edges[-1] == 100.0
    classes = classed.classes(REFERENCE)
    assert classes.min() == 0 and classes.max() == 4


def test_schemes_differ_where_the_values_are_skewed():
    equal = classed_scale(REFERENCE, SCALE, "Equal interval").edges
    quantiles = classed_scale(REFERENCE, SCALE, "Quantiles").edges
    assert np.allclose(equal, [0, 20, 40, 60, 80, 100])
    assert quantiles[4] < 50 < equal[4]  # 80 % of the values lie at or below 40


def test_values_outside_the_reference_fall_in_the_end_classes_and_nan_is_no_data():
    classed = classed_scale(REFERENCE, SCALE, "Equal interval")
    colours = classed.colors(np.array([-50.0, 10.0, 500.0, np.nan]))
    assert colours[0] == classed.class_colors[0] and colours[2] == classed.class_colors[-1]
    assert colours[1] == classed.class_colors[0] and colours[3] == NO_DATA_COLOR


def test_a_diverging_scale_keeps_its_neutral_colour_at_zero():
    errors = np.linspace(-10, 10, 101)
    classed = classed_scale(errors, diverging_scale(errors, "Predicted − true (bu/acre)"), "Equal interval")
    middle = classed.class_colors[2]  # the class around 0
    assert middle == classed.colors(np.array([0.0]))[0]
    r, g, b = (int(v) for v in middle[4:-1].split(","))
    assert min(r, g, b) > 200  # near white


def test_legend_names_the_scheme_and_each_class():
    html = classed_scale(REFERENCE, SCALE, "Natural breaks", k=4).legend_html()
    assert "Yield (bu/acre)" in html and "natural breaks, 4 classes" in html and html.count("–") == 4


def test_one_distinct_value_gives_one_class():
    classed = classed_scale(np.full(10, 7.0), SCALE, "Quantiles")
    assert len(classed.class_colors) == 1 and classed.colors(np.array([7.0, 8.0])) == [classed.class_colors[0]] * 2


def test_bad_input_is_refused_with_what_was_expected():
    with pytest.raises(InputError, match="unknown classification scheme 'Jenks'"):
        classed_scale(REFERENCE, SCALE, "Jenks")
    with pytest.raises(InputError, match="from 2 to 9, got 12"):
        classed_scale(REFERENCE, SCALE, "Quantiles", k=12)
    with pytest.raises(InputError, match="no finite value to classify"):
        classed_scale(np.array([np.nan]), SCALE, "Quantiles")
