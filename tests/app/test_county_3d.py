"""The Yield map's 3-D view under AppTest: off by default; extruded counties, height = yield, colour = error; no base map.

The county map component is replaced by the stand-in of tests/app/clicks.py (AppTest cannot run it).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import geoapp.app_support.yield_views as yield_views
from geoapp.data.dataset import load_dataset
from geoapp.errors import InputError
from geoapp.paths import REPO_ROOT
from geoapp.viz.county_3d import COUNTY_3D_LAYERS, KM_PER_BU, NO_DATA_RGB
from tests.app.clicks import county_clicks
from tests.app.test_pages import tiny_checkpoint  # noqa: F401 (a fixture)

PAGE = str(REPO_ROOT / "pages" / "yield_map.py")
YEAR = 2016  # the sidebar's default: the tiny dataset's last year, the tiny checkpoint's test year


def _spec(at: AppTest) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


def _counties(spec: dict) -> list[dict]:
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert tuple(layers) == COUNTY_3D_LAYERS
    return layers["counties"]["data"]


def _by_county(data: list[dict]) -> dict[str, dict]:
    return {d["n"][-6:-1]: d for d in data}  # "Polk, IA (19153)" -> "19153"


def _accessors_name_data_keys(spec: dict) -> None:
    """Every string argument of a layer is an accessor of a key its data has (pydeck reads strings as expressions)."""
    for layer in spec["layers"]:
        keys = set(layer["data"][0]) if layer["data"] else set()
        for name, value in layer.items():
            if isinstance(value, str) and name not in ("@@type", "id"):
                assert value.startswith("@@=") and value[3:] in keys, (layer["id"], name, value)


def _open(monkeypatch) -> tuple[AppTest, list]:
    maps = county_clicks(monkeypatch).drawn
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception and not at.error
    assert not at.get("deck_gl_json_chart")  # off by default
    return at, maps


def test_toggle_draws_true_yields_as_heights_on_an_orbit_view_without_base_map(app_env, monkeypatch):
    at, maps = _open(monkeypatch)
    drawn_before = len(maps)
    at.toggle(key="yield_3d").set_value(True).run()
    assert not at.exception and not at.error
    spec = _spec(at)
    assert [v["@@type"] for v in spec["views"]] == ["OrbitView"] and spec["views"][0]["controller"] is True
    assert "mapStyle" not in spec and "mapProvider" not in spec  # no base map to fetch
    _accessors_name_data_keys(spec)
    data = _counties(spec)
    ds = load_dataset(next(app_env.iterdir()))
    by_county = _by_county(data)
    assert set(by_county) == set(ds.counties["geoid"])  # every county of the dataset, IA and IL
    true = ds.year_yields(YEAR)
    for geoid in true.index[:20]:
        assert by_county[geoid]["e"] == pytest.approx(true[geoid] * KM_PER_BU, abs=0.01)
        assert by_county[geoid]["h"] == f"{true[geoid]:.1f}"
    withheld = sorted(set(by_county) - set(true.index))
    assert withheld and all(by_county[g]["e"] == 0 for g in withheld)  # no true yield: flat
    assert {tuple(d["c"]) for d in data} == {tuple(NO_DATA_RGB)}  # no checkpoint: no error to colour
    size = len(at.get("deck_gl_json_chart")[0].proto.json)
    assert size < 400_000, size  # IA and IL: well under the demo's 0.4 MB
    titles = [m.value for m in at.markdown if "3-D counties" in m.value]
    assert titles and "simulated" in titles[0] and str(YEAR) in titles[0]
    assert len(maps) > drawn_before  # the county map is still drawn beside it


def test_with_a_checkpoint_colour_is_the_error_and_the_predicted_view_sets_heights(tiny_checkpoint, monkeypatch):  # noqa: F811
    at, _ = _open(monkeypatch)
    at.toggle(key="yield_3d").set_value(True).run()
    assert not at.exception and not at.error
    data = _by_county(_counties(_spec(at)))
    scored = [d for d in data.values() if d["d"] != "unknown"]
    assert len(scored) > 50 and all(tuple(d["c"]) != tuple(NO_DATA_RGB) for d in scored)
    assert len({tuple(d["c"]) for d in scored}) > 10  # a diverging scale, not one colour
    assert any("Predicted − true" in h.proto.body for h in at.get("html"))  # the error legend

    at.radio(key="yield_view").set_value("Predicted").run()
    assert not at.exception and not at.error
    data = _by_county(_counties(_spec(at)))
    for d in [d for d in data.values() if d["d"] != "unknown"][:20]:
        assert d["e"] == pytest.approx(float(d["h"]) * KM_PER_BU, abs=0.06)  # heights from the predictions
    assert any("height = predicted yield" in m.value for m in at.markdown)
    errors = np.array([float(d["d"]) for d in data.values() if d["d"] != "unknown"])
    assert np.abs(errors).max() > 0


def test_a_3d_view_that_cannot_be_built_shows_an_error_box_and_the_page_goes_on(app_env, monkeypatch):
    def broken(*args, **kwargs):
        raise InputError("no counties to draw: the dataset's counties are not among the county polygons")

    monkeypatch.setattr(yield_views, "county_footprints", broken)
    at, maps = _open(monkeypatch)
    at.toggle(key="yield_3d").set_value(True).run()
    assert not at.exception
    assert at.error and "no counties to draw" in at.error[0].value
    assert not at.get("deck_gl_json_chart") and maps  # the county map is still there
