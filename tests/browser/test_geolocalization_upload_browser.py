"""Geolocalization in headless chromium: a georeferenced GeoTIFF upload is placed, its error shown in km."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geoapp.data.imagery import extract_patch
from tests.browser.conftest import screenshot
from tests.browser.test_browser import PAGES, _assert_no_errors, _open, _wait_idle

pytestmark = pytest.mark.browser


def _write_geotiff(path, lat: float, lon: float, width_deg: float) -> None:
    """A 96 x 96 px RGB GeoTIFF (EPSG:4326) of the Blue Marble around (lat, lon)."""
    patch = extract_patch(lat, lon, size_px=96, footprint_km=width_deg * 111.2 * np.cos(np.radians(lat)))
    step = width_deg / 96
    transform = from_origin(lon - width_deg / 2, lat + width_deg / 2, step, step)
    with rasterio.open(
        path, "w", driver="GTiff", width=96, height=96, count=3, dtype="uint8", crs="EPSG:4326", transform=transform
    ) as dst:
        dst.write(np.moveaxis(patch, -1, 0))


def test_geotiff_upload_is_placed_with_its_true_place_and_error(page, app_url, tmp_path):
    _open(page, app_url + PAGES["geolocalization"])
    page.get_by_text("Upload an image").click()
    _wait_idle(page)
    tif = tmp_path / "nile_delta.tif"
    _write_geotiff(tif, 30.5, 31.0, 6.0)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(tif))
    _wait_idle(page)
    _assert_no_errors(page)
    metric = page.locator("[data-testid=stMetric]").first
    metric.wait_for(timeout=30_000)
    assert "Error of the top prediction" in metric.inner_text() and "km" in metric.inner_text()
    assert "GeoTIFF georeferenced" in page.locator("[data-testid=stCaptionContainer]").all_inner_texts().__str__()
    screenshot(page, "geolocalization_upload")
