"""Location similarity and geolocalization pages under AppTest, with the shipped checkpoint.

streamlit_folium.st_folium (a custom component) is replaced by a stub returning what the browser
would send.
"""

from __future__ import annotations

import re

import pytest
import streamlit_folium
from folium.map import FitBounds
from streamlit.testing.v1 import AppTest

from geoapp.paths import REPO_ROOT
from geoapp.viz.geolocation_map import MIN_VIEW_SPAN_DEG

TIMEOUT = 120


@pytest.fixture()
def folium_stub(monkeypatch):
    """Record drawn maps; ``stub.click`` sets the next click (lat, lng) or None."""

    class Stub:
        click = None
        maps: list = []

        def __call__(self, m, key=None, **kwargs):
            self.maps.append(m)
            c = self.click
            return {"last_clicked": {"lat": c[0], "lng": c[1]} if c else None}

    stub = Stub()
    stub.maps = []
    monkeypatch.setattr(streamlit_folium, "st_folium", stub)
    return stub


def _reference_line(at: AppTest) -> str:
    return next(md.value for md in at.main.markdown if "Reference:" in md.value)


def _run(path: str, **state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / path), default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _assert_no_dataset_sidebar(at: AppTest) -> None:
    """The location pages use no crop-yield dataset: no dataset selector, badge or sources."""
    assert not [s for s in at.sidebar.selectbox if s.key in ("w_dataset", "w_year", "w_checkpoint")]
    assert not any("SIMULATED" in md.value for md in at.sidebar.markdown)
    assert not [e for e in at.sidebar.expander if e.label.startswith("Real data")]


def test_similarity_page_draws_overlay_for_preset(app_env, folium_stub):
    at = _run("pages/location_similarity.py")
    assert not at.exception and not at.error
    _assert_no_dataset_sidebar(at)
    html = folium_stub.maps[-1].get_root().render()
    assert "data:image/png;base64" in html  # the similarity field is one image overlay
    assert "data:image/jpeg;base64" in html  # Blue Marble basemap, offline
    assert "Reference:** 22.32, 114.17" in _reference_line(at)  # Hong Kong preset
    assert len(at.dataframe[0].value) == 10


def test_similarity_page_click_moves_the_reference(app_env, folium_stub):
    at = _run("pages/location_similarity.py")
    at.session_state["sim_map"] = {"last_clicked": {"lat": 48.85, "lng": 2.35}}  # what the map component stores
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["sim_ref"] == pytest.approx((48.85, 2.35))
    assert "Reference:** 48.85, 2.35" in _reference_line(at)


def test_similarity_page_preset_choice(app_env, folium_stub):
    at = _run("pages/location_similarity.py")
    at.selectbox(key="sim_preset").select("Congo Basin").run()
    assert not at.exception and not at.error
    assert at.session_state["sim_ref"] == (-1.0, 22.0)


def test_geolocalization_page_held_out_patch(real_env, folium_stub):
    at = _run("pages/geolocalization.py", sel_dataset=str(real_env))  # a real dataset chosen on another page
    assert not at.exception and not at.error
    _assert_no_dataset_sidebar(at)
    assert at.metric[0].label == "Error of the top prediction"
    assert at.metric[0].value.endswith("km")
    table = at.dataframe[0].value
    assert len(table) == 5 and "error_km" in table.columns
    at.number_input(key="geo_idx").set_value(7).run()
    assert not at.exception and not at.error


def test_similarity_click_sets_the_preset_box_to_the_clicked_point(app_env, folium_stub):
    at = _run("pages/location_similarity.py")
    assert at.selectbox(key="sim_preset").value == "Hong Kong"
    at.session_state["sim_map"] = {"last_clicked": {"lat": 48.85, "lng": 2.35}}
    at.run()
    assert not at.exception and not at.error
    preset = at.selectbox(key="sim_preset")
    assert preset.value == "clicked"
    assert preset.options[0] == "clicked point (48.85, 2.35)"  # what the box shows
    # choosing a preset again moves the reference back
    preset.select("Congo Basin").run()
    assert at.session_state["sim_ref"] == (-1.0, 22.0) and "Reference:** -1.00, 22.00" in _reference_line(at)


def _map_caption(at: AppTest) -> str:
    (caption,) = [c.value for c in at.caption if "On the map:" in c.value]
    return caption


def test_geolocalization_names_the_patch_shown_and_explains_the_markers(app_env, folium_stub):
    at = _run("pages/geolocalization.py")
    at.number_input(key="geo_idx").set_value(7).run()
    assert not at.exception and not at.error
    caption = _map_caption(at)
    found = re.match(r"Held-out patch 7 · true place (-?\d+\.\d\d), (-?\d+\.\d\d) · Blue Marble, [\d,]+ km, RGB only\. ", caption)
    assert found, caption
    assert at.get("image")[0].proto.imgs[0].caption == caption.split(". On the map:")[0]  # the image says it too
    fmap = folium_stub.maps[-1]
    html = fmap.get_root().render()
    assert f"true place: {found[1]}, {found[2]}" in html  # the caption's place is the map's red dot
    assert "red dot: true place" in caption and "top-5 predictions (#1 larger, yellow; #2-#5 orange" in caption
    assert "geoapp-map-legend" in html  # and the map has its own legend
    (south, west), (north, east) = next(c for c in fmap._children.values() if isinstance(c, FitBounds)).bounds
    assert north - south >= MIN_VIEW_SPAN_DEG and east - west >= MIN_VIEW_SPAN_DEG
    at.slider(key="geo_topk").set_value(1).run()
    assert "yellow ring: the prediction" in _map_caption(at) and "#2" not in _map_caption(at)


def test_geolocalization_index_out_of_range_clears_the_results(app_env, folium_stub):
    at = _run("pages/geolocalization.py")
    at.number_input(key="geo_idx").set_value(7).run()
    last = int(re.search(r"\(0-(\d+)\)", at.number_input(key="geo_idx").label)[1])
    drawn = len(folium_stub.maps)
    for bad in (last + 1, 5000, -1):
        at.number_input(key="geo_idx").set_value(bad).run()
        assert not at.exception
        (error,) = at.error
        assert f"no held-out location {bad}" in error.value and f"numbered 0-{last}" in error.value
        # nothing left of patch 7: no image, metric, table, download, map or caption
        assert not at.metric and not at.dataframe and not at.get("image") and not at.get("download_button")
        assert len(folium_stub.maps) == drawn and not [c for c in at.caption if "Held-out patch" in c.value]
    at.number_input(key="geo_idx").set_value(last).run()
    assert not at.exception and not at.error
    assert _map_caption(at).startswith(f"Held-out patch {last} · true place ") and len(folium_stub.maps) == drawn + 1
