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


def test_yield_history_ticks_whole_years_without_a_thousands_separator():
    from geoapp.viz.charts import yield_history

    short = yield_history(pd.DataFrame({"year": [2016, 2017, 2018], "yield": [50.0, None, 55.0]}), "Linn, IA")
    assert short.layout.xaxis.tickformat == "d" and short.layout.xaxis.dtick == 1  # not 2,016.5
    long = yield_history(pd.DataFrame({"year": list(range(2003, 2019)), "yield": [50.0] * 16}), "Linn, IA", 2018)
    assert long.layout.xaxis.tickformat == "d" and long.layout.xaxis.dtick is None  # plotly spaces 16 years itself
