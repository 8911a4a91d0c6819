"""Charts: the monthly inputs' small multiples."""

from __future__ import annotations

import pandas as pd
import pytest

from geoapp.viz.charts import monthly_inputs


def test_a_static_band_is_drawn_around_its_value_and_a_varying_one_left_to_autorange():
    months = [4, 5, 6]
    inputs = pd.DataFrame({"band": ["ndvi"] * 3 + ["sand"] * 3, "month": months * 2, "value": [0.2, 0.5, 0.7, 0.31, 0.31, 0.31]})
    fig = monthly_inputs(inputs, "Story, IA, 2016", simulated=True)
    assert fig.layout.title.text == "Story, IA, 2016 (simulated)"
    assert fig.layout.yaxis.range is None  # ndvi varies: plotly's own range
    assert fig.layout.yaxis2.range == pytest.approx((0.279, 0.341))  # sand: 0.31 +- 10%, not -0.5..1
    zero = monthly_inputs(pd.DataFrame({"band": ["clay"] * 3, "month": months, "value": [0.0] * 3}), "x")
    assert zero.layout.yaxis.range == pytest.approx((-0.01, 0.01))
