"""Every page under streamlit.testing.AppTest, on the tiny simulated dataset.

st_folium is a custom component that AppTest cannot run; tests replace it with a stub that returns
what the browser would send after a click.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

import geoapp.app_support.county_map as county_map
from geoapp.paths import REPO_ROOT

TIMEOUT = 60


def _run(path: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / path), default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _click(monkeypatch, geoid: str | None) -> list:
    """Make st_folium report a click on ``geoid``; returns the list of maps it was asked to draw."""
    drawn = []

    def fake_st_folium(m, key=None, **kwargs):
        drawn.append(m)
        return {"last_active_drawing": {"properties": {"geoid": geoid}} if geoid else None}

    monkeypatch.setattr(county_map, "st_folium", fake_st_folium)
    return drawn


def test_home_shows_dataset_and_simulated_label(app_env):
    at = _run("app.py")
    assert not at.exception
    assert not at.error
    assert "simulated" in at.warning[0].value.lower()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Counties"] == "201"  # Iowa (99) + Illinois (102)
    assert metrics["Years"] == "2012–2016"
    assert any("SIMULATED" in md.value for md in at.sidebar.markdown)


def test_yield_map_renders_year_and_map(app_env, monkeypatch):
    drawn = _click(monkeypatch, None)
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    assert at.title[0].value == "County yields, 2016"  # latest year by default
    assert "Simulated data" in at.caption[0].value
    assert len(drawn) == 1
    html = drawn[0].get_root().render()
    assert "/app/static/leaflet/leaflet.js" in html


def test_click_on_county_shows_history_and_inputs(app_env, monkeypatch):
    _click(monkeypatch, "19153")  # Polk County, Iowa
    at = _run("pages/yield_map.py")
    assert not at.exception and not at.error
    assert at.session_state["sel_county"] == "19153"
    assert at.metric[0].label == "Polk, IA, 2016"
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # yield history + monthly inputs
    inputs = json.loads(charts[1].proto.spec)
    assert "(simulated)" in inputs["layout"]["title"]["text"]
    assert len(inputs["data"]) == 9  # one panel per band


def test_year_choice_carries_across_pages(app_env, monkeypatch):
    _click(monkeypatch, None)
    home = _run("app.py")
    home.sidebar.selectbox(key="w_year").select(2012).run()
    assert home.session_state["sel_year"] == 2012
    at = _run("pages/yield_map.py", sel_year=2012, sel_dataset=home.session_state["sel_dataset"])
    assert at.title[0].value == "County yields, 2012"


def test_broken_dataset_shows_error_box_not_traceback(app_env, monkeypatch):
    _click(monkeypatch, None)
    (next(app_env.iterdir()) / "yields.csv").unlink()
    at = _run("pages/yield_map.py")
    assert not at.exception
    assert at.error and "yields.csv" in at.error[0].value


@pytest.mark.parametrize("page", ["app.py", "pages/yield_map.py"])
def test_every_page_renders_without_error(app_env, monkeypatch, page):
    _click(monkeypatch, None)
    at = _run(page)
    assert not at.exception and not at.error
