"""geoapp.viz.input_layer: a band of a cube on an EPSG:5070 grid, placed on a Web Mercator map where it belongs."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from geoapp.data.bands import BAND_INFO
from geoapp.data.cube import empty_cube
from geoapp.data.grid import Grid
from geoapp.errors import InputError
from geoapp.viz.input_layer import band_image, tile_outline

GRID = Grid.covering((-100_000.0, 1_900_000.0, 300_000.0, 2_200_000.0), 10_000.0)  # Iowa/Illinois, EPSG:5070


@pytest.fixture(scope="module")
def cube():
    ds = empty_cube(GRID, [2012], "test", simulated=True)
    rng = np.random.default_rng(0)
    for band in BAND_INFO:
        ds[band].values[...] = rng.uniform(0.2, 0.8, ds[band].shape).astype(np.float32)
    ds["ppt"].values[0, 5, 7, 31] = 500.0  # one wet pixel in August (row 7, column 31)
    ds["ppt"].values[0, 5, :, 0] = np.nan  # a column without data
    return ds


def _mercator_px(image, lat: float, lon: float) -> tuple[float, float]:
    """(row, col) where Leaflet draws (lat, lon) inside ``image``: linear in Web Mercator between its corners."""
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (south, west), (north, east) = image.bounds
    (x0, x1), (y0, y1) = to_m.transform([west, east], [north, south])
    x, y = to_m.transform(lon, lat)
    h, w = image.pixels.shape
    return (y - y0) / (y1 - y0) * h, (x - x0) / (x1 - x0) * w


def test_a_pixel_lands_where_its_coordinates_are(cube):
    image = band_image(cube, GRID, "ppt", 2012, 8)
    lon, lat = GRID.lonlat()
    row, col = _mercator_px(image, float(lat[7, 31]), float(lon[7, 31]))
    wet = np.argwhere(image.pixels == 255)  # the top of the scale: the wet pixel only
    assert len(wet) > 0
    assert np.abs(wet.mean(axis=0) - [row, col]).max() < 1.5  # within about a pixel of where it belongs


def test_missing_pixels_are_transparent_and_the_rest_opaque(cube):
    image = band_image(cube, GRID, "ppt", 2012, 8)
    rgba = image.rgba()
    assert rgba.shape == (*image.pixels.shape, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3] == 0).any() and (rgba[..., 3] == 255).any()
    assert image.png_data_url().startswith("data:image/png;base64,")


def test_the_scale_names_the_band_with_units_and_the_title_the_month(cube):
    image = band_image(cube, GRID, "ppt", 2012, 8)
    assert image.scale.label == "Monthly precipitation (mm)" and image.title == "Monthly precipitation, Aug 2012"
    static = band_image(cube, GRID, "elevation", 2012, 3)
    assert static.title.endswith(", static") and static.scale.label == "Elevation above sea level (m)"
    assert band_image(cube, GRID, "ndvi", 2012, 7).scale.vmax <= 0.8  # fractions keep their decimals


def test_the_tile_outline_follows_the_grid_corners():
    ring = tile_outline(GRID, 2, 3, 4)
    assert ring[0] == ring[-1] and len(ring) == 33
    to_grid = Transformer.from_crs("EPSG:4326", GRID.crs, always_xy=True)
    x, y = to_grid.transform(ring[0][1], ring[0][0])
    assert abs(x - (GRID.xmin + 3 * GRID.resolution_m)) < 1e-3 and abs(y - (GRID.ymax - 2 * GRID.resolution_m)) < 1e-3


def test_bad_choices_are_refused(cube):
    with pytest.raises(InputError, match="unknown band 'rain'"):
        band_image(cube, GRID, "rain", 2012, 8)
    with pytest.raises(InputError, match="month 12 is outside the growing season"):
        band_image(cube, GRID, "ppt", 2012, 12)
    with pytest.raises(InputError, match="year 1999 is not in the cube"):
        band_image(cube, GRID, "ppt", 1999, 8)
    blank = cube.copy(deep=True)
    blank["evi"].values[...] = np.nan
    with pytest.raises(InputError, match="no valid pixel in Jul 2012"):
        band_image(blank, GRID, "evi", 2012, 7)
