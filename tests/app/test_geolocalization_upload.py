"""The Geolocalization page's upload path and held-out sets under AppTest, with the shipped checkpoint."""

from __future__ import annotations

import io

import numpy as np
import pytest
import rasterio
import streamlit_folium
from PIL import Image
from rasterio.transform import from_origin
from streamlit.testing.v1 import AppTest

from geoapp.data.imagery import extract_patch
from geoapp.paths import REPO_ROOT

TIMEOUT = 120


@pytest.fixture()
def no_map(monkeypatch):
    """st_folium (a custom component) replaced by a recorder of the maps drawn."""
    maps = []
    monkeypatch.setattr(streamlit_folium, "st_folium", lambda m, **kw: maps.append(m) or {"last_clicked": None})
    return maps


def _page() -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages/geolocalization.py"), default_timeout=TIMEOUT).run()
    at.radio(key="geo_source").set_value("Upload an image").run()
    return at


def _upload(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    return at.file_uploader(key="geo_upload").set_value((name, data, mime)).run()


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _geotiff_of_blue_marble(lat: float, lon: float, width_deg: float) -> bytes:
    """A 64 x 64 px GeoTIFF in EPSG:4326 of the Blue Marble around (lat, lon), ``width_deg`` degrees on a side."""
    patch = extract_patch(lat, lon, size_px=64, footprint_km=width_deg * 111.0 * np.cos(np.radians(lat)))
    step = width_deg / 64
    transform = from_origin(lon - width_deg / 2, lat + width_deg / 2, step, step)
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=64, height=64, count=3, dtype="uint8", crs="EPSG:4326", transform=transform) as d:
            d.write(np.moveaxis(patch, -1, 0))
        return mem.read()


def test_upload_prompt_until_a_file_is_given(app_env, no_map):
    at = _page()
    assert not at.exception and not at.error
    assert any("Upload an image to geolocate it" in i.value for i in at.info)


def test_georeferenced_geotiff_shows_the_true_place_and_the_error(app_env, no_map):
    at = _upload(_page(), "sahel.tif", _geotiff_of_blue_marble(14.0, 2.0, 5.0), "image/tiff")
    assert not at.exception and not at.error
    assert at.metric[0].label == "Error of the top prediction" and at.metric[0].value.endswith("km")
    assert "error_km" in at.dataframe[0].value.columns
    caption = " ".join(c.value for c in at.caption)
    assert "GeoTIFF georeferenced" in caption and "RGB only" in caption
    assert at.number_input(key="geo_width_km").value == pytest.approx(540, abs=10)  # 5 degrees at 14 N, from the file


def test_plain_image_has_no_truth_and_a_grey_one_is_flagged(app_env, no_map):
    at = _upload(_page(), "grey.png", _png(np.full((64, 64), 120, np.uint8)), "image/png")
    assert not at.exception and not at.error
    assert not at.metric  # no true place: no error
    assert len(at.dataframe[0].value) == 5
    assert any("lower accuracy" in c.value for c in at.caption)


def test_width_outside_the_trained_range_warns(app_env, no_map):
    at = _upload(_page(), "rgb.png", _png(extract_patch(30.0, 31.0, size_px=48)), "image/png")
    at.checkbox(key="geo_width_unknown").uncheck().run()
    at.number_input(key="geo_width_km").set_value(20.0).run()
    assert not at.exception and not at.error
    assert any("accuracy will drop" in w.value for w in at.warning)


@pytest.mark.parametrize(
    "name, data, match",
    [
        ("tiny.png", _png(np.zeros((8, 8, 3), np.uint8)), "at least 16"),
        ("text.png", b"plain text, not an image" * 4, "not an image"),
    ],
)
def test_bad_uploads_show_an_error_box_and_the_page_stays(app_env, no_map, name, data, match):
    at = _upload(_page(), name, data, "image/png")
    assert not at.exception
    assert any(match in e.value for e in at.error)
    assert at.radio(key="geo_source").value == "Upload an image"  # the page is still there


def test_held_out_block_patch(app_env, no_map):
    at = AppTest.from_file(str(REPO_ROOT / "pages/geolocalization.py"), default_timeout=TIMEOUT).run()
    at.radio(key="geo_heldout_set").set_value("blocks").run()
    assert not at.exception and not at.error
    assert at.metric[0].value.endswith("km")
    at.toggle(key="geo_rgb_only").set_value(False).run()
    assert not at.exception and not at.error
