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

from geoapp.app_support.geolocation_input import UPLOAD_LIMIT_MB
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


def _big_png() -> bytes:
    """A real PNG over the 5 MB limit (random pixels do not compress)."""
    noise = np.random.default_rng(0).integers(0, 256, (1500, 1500, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG", compress_level=0)
    assert len(buf.getvalue()) > UPLOAD_LIMIT_MB * 2**20
    return buf.getvalue()


def test_the_uploader_limit_is_the_one_the_page_states(app_env, no_map):
    at = _page()
    assert at.file_uploader(key="geo_upload").proto.max_upload_size_mb == UPLOAD_LIMIT_MB == 5
    assert "at most 5 MB" in at.file_uploader(key="geo_upload").label
    prompt = " ".join(i.value for i in at.info)  # before any file: what happens to a larger one
    assert "at most 5 MB" in prompt and "refused by the uploader" in prompt


def test_each_message_concerns_the_file_now_in_the_uploader(app_env, no_map):
    at = _page()
    drawn = len(no_map)  # the held-out patch's map, before the upload was chosen
    _upload(at, "notimage.png", b"plain text, not an image" * 4, "image/png")
    (error,) = at.error
    assert "`notimage.png`" in error.value and "not an image" in error.value  # names the file it is about
    assert any("Using `notimage.png`" in c.value and "over 5 MB is refused by the uploader" in c.value for c in at.caption)
    # a file over the limit that reaches the page (the browser's uploader refuses it before): its own message
    _upload(at, "big.png", _big_png(), "image/png")
    (error,) = at.error
    assert "`big.png`" in error.value and "at most 5 MB" in error.value
    assert "notimage" not in " ".join(e.value for e in at.error) + " ".join(c.value for c in at.caption)
    assert not at.dataframe and len(no_map) == drawn  # no results of any file
    # the uploader emptied: no error left from either file, the prompt again
    at.file_uploader(key="geo_upload").set_value(None).run()
    assert not at.exception and not at.error
    assert any("Upload an image to geolocate it" in i.value for i in at.info)
    # a good file after a bad one: its results, no error
    _upload(at, "notimage.png", b"plain text, not an image" * 4, "image/png")
    _upload(at, "rgb.png", _png(extract_patch(30.0, 31.0, size_px=48)), "image/png")
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 5 and len(no_map) == drawn + 1
    assert any(c.value.startswith("Using `rgb.png` (") for c in at.caption)
    assert not any("notimage" in c.value for c in at.caption)


def test_a_georeferenced_upload_gives_its_true_place_under_the_map(app_env, no_map):
    at = _upload(_page(), "sahel.tif", _geotiff_of_blue_marble(14.0, 2.0, 5.0), "image/tiff")
    assert not at.exception and not at.error
    (caption,) = [c.value for c in at.caption if "On the map:" in c.value]
    assert caption.startswith("sahel.tif · true place 14.00, 2.00 (from the GeoTIFF). On the map: red dot: true place")
    assert "true place: 14.00, 2.00" in no_map[-1].get_root().render()  # the map's dot is that place
