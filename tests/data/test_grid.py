"""Tests for geoapp.data.grid.Grid: alignment, coordinates, transforms, CF attributes, bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyproj
import pytest
from pyproj import Transformer

from geoapp.data.grid import ALBERS_CONUS, Grid
from geoapp.errors import InputError

IOWA_BOUNDS = (200_000.0, 2_100_000.0, 300_000.0, 2_180_000.0)


@pytest.fixture
def grid() -> Grid:
    return Grid.covering(IOWA_BOUNDS, 4000.0)


# ---- Grid.covering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bounds, res, margin, expected",
    [
        ((1234.5, 5678.9, 10_001.0, 20_000.1), 1000.0, 0.0, (1000.0, 5000.0, 11_000.0, 21_000.0)),
        ((1234.5, 5678.9, 10_001.0, 20_000.1), 1000.0, 500.0, (0.0, 5000.0, 11_000.0, 21_000.0)),
        ((-1234.0, -7999.0, -1.0, 3.0), 2000.0, 0.0, (-2000.0, -8000.0, 0.0, 2000.0)),
        ((0.0, 0.0, 8000.0, 4000.0), 4000.0, 0.0, (0.0, 0.0, 8000.0, 4000.0)),  # already aligned: unchanged
        ((0.0, 0.0, 8000.0, 4000.0), 4000.0, 100_000.0, (-100_000.0, -100_000.0, 108_000.0, 104_000.0)),
    ],
)
def test_covering_aligns_to_resolution(bounds, res, margin, expected):
    g = Grid.covering(bounds, res, margin_m=margin)
    assert (g.xmin, g.ymin, g.xmax, g.ymax) == expected
    assert g.crs == ALBERS_CONUS and g.resolution_m == res


@pytest.mark.parametrize("res", [1000.0, 3000.0, 4000.0, 7500.0])
@pytest.mark.parametrize("margin", [0.0, 12_345.0])
def test_covering_is_the_smallest_aligned_cover(res, margin):
    x0, y0, x1, y1 = (123_456.7, 1_987_654.3, 345_678.9, 2_222_222.2)
    g = Grid.covering((x0, y0, x1, y1), res, margin_m=margin)
    # aligned to multiples of the resolution
    for v in (g.xmin, g.ymin, g.xmax, g.ymax):
        assert v / res == pytest.approx(round(v / res), abs=1e-9)
    # covers the bounds plus the margin ...
    assert g.xmin <= x0 - margin and g.ymin <= y0 - margin
    assert g.xmax >= x1 + margin and g.ymax >= y1 + margin
    # ... by less than one pixel on each side
    assert x0 - margin - g.xmin < res and y0 - margin - g.ymin < res
    assert g.xmax - (x1 + margin) < res and g.ymax - (y1 + margin) < res


# ---- shape, transform and coordinates -----------------------------------------------------------


def test_shape_and_coordinates(grid):
    assert grid.shape == (20, 25) == (grid.height, grid.width)
    assert grid.x.shape == (25,) and grid.y.shape == (20,)
    assert np.all(np.diff(grid.x) == 4000.0)  # increasing
    assert np.all(np.diff(grid.y) == -4000.0)  # decreasing: north-up
    assert grid.x[0] == grid.xmin + 2000.0 and grid.x[-1] == grid.xmax - 2000.0
    assert grid.y[0] == grid.ymax - 2000.0 and grid.y[-1] == grid.ymin + 2000.0


def test_transform_maps_pixel_centres_to_x_y(grid):
    t = grid.transform
    rows, cols = np.meshgrid(np.arange(grid.height), np.arange(grid.width), indexing="ij")
    xs, ys = t @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    np.testing.assert_allclose(xs, grid.x[cols.ravel()], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ys, grid.y[rows.ravel()], rtol=0, atol=1e-6)
    # corners: upper-left is (xmin, ymax), lower-right (xmax, ymin)
    assert t @ (0, 0) == (grid.xmin, grid.ymax)
    assert t @ (grid.width, grid.height) == pytest.approx((grid.xmax, grid.ymin))
    assert (t.a, t.e, t.b, t.d) == (4000.0, -4000.0, 0.0, 0.0)


def test_rowcol_inverts_pixel_centres(grid):
    rows, cols = np.meshgrid(np.arange(grid.height), np.arange(grid.width), indexing="ij")
    r, c = grid.rowcol(grid.x[cols], grid.y[rows])
    np.testing.assert_array_equal(r, rows)
    np.testing.assert_array_equal(c, cols)
    assert r.dtype.kind == "i" and c.dtype.kind == "i"


def test_rowcol_edges_and_outside(grid):
    r, c = grid.rowcol(
        np.array([grid.xmin, grid.xmax - 1e-6, grid.xmin - 1.0]), np.array([grid.ymax, grid.ymin + 1e-6, grid.ymax + 1.0])
    )
    assert r.tolist() == [0, grid.height - 1, -1]
    assert c.tolist() == [0, grid.width - 1, -1]
    # a point anywhere inside a pixel (not only its centre) falls in that pixel
    r, c = grid.rowcol(grid.xmin + 4000.0 * 3 + 3999.0, grid.ymax - 4000.0 * 7 - 1.0)
    assert (int(r), int(c)) == (7, 3)


def test_lonlat_of_albers_origin():
    # EPSG:5070: central meridian 96 W, latitude of origin 23 N, no false easting/northing.
    g = Grid(ALBERS_CONUS, 1000.0, -500.0, -500.0, 500.0, 500.0)
    lon, lat = g.lonlat()
    assert lon.shape == lat.shape == (1, 1)
    assert lon[0, 0] == pytest.approx(-96.0, abs=1e-9)
    assert lat[0, 0] == pytest.approx(23.0, abs=1e-9)


def test_lonlat_matches_pyproj(grid):
    lon, lat = grid.lonlat()
    assert lon.shape == lat.shape == grid.shape
    to_geo = Transformer.from_crs("EPSG:5070", "EPSG:4326", always_xy=True)
    for row, col in [(0, 0), (5, 17), (grid.height - 1, grid.width - 1)]:
        elon, elat = to_geo.transform(grid.x[col], grid.y[row])
        assert lon[row, col] == pytest.approx(elon, abs=1e-9)
        assert lat[row, col] == pytest.approx(elat, abs=1e-9)
    # the test patch is in central Iowa
    assert -95.0 < lon.mean() < -92.0 and 41.0 < lat.mean() < 43.0
    # north-up: latitude decreases down the rows
    assert np.all(np.diff(lat[:, 12]) < 0)


@pytest.mark.parametrize("km, px", [(64.0, 16), (4.0, 1), (1.0, 1), (0.1, 1), (100.0, 25), (7.0, 2)])
def test_km_to_px(grid, km, px):
    assert grid.km_to_px(km) == px


@pytest.mark.parametrize("km", [0.0, -3.0, float("nan")])
def test_km_to_px_refuses_non_positive(grid, km):
    with pytest.raises(InputError, match=r"distance must be positive km"):
        grid.km_to_px(km)


# ---- attributes -------------------------------------------------------------------------------------


def test_attrs_round_trip(grid):
    attrs = grid.to_attrs()
    assert attrs == {
        "grid_crs": "EPSG:5070",
        "grid_resolution_m": 4000.0,
        "grid_bounds_m": [grid.xmin, grid.ymin, grid.xmax, grid.ymax],
    }
    assert Grid.from_attrs(attrs) == grid
    # as read back from NetCDF: numpy scalars and arrays
    attrs_np = {
        "grid_crs": "EPSG:5070",
        "grid_resolution_m": np.float64(4000.0),
        "grid_bounds_m": np.asarray(attrs["grid_bounds_m"]),
    }
    assert Grid.from_attrs(attrs_np) == grid


def test_cf_grid_mapping(grid):
    cf = grid.cf_grid_mapping()
    assert cf["grid_mapping_name"] == "albers_conical_equal_area"
    assert cf["crs_wkt"] == cf["spatial_ref"]
    assert pyproj.CRS.from_wkt(cf["crs_wkt"]).to_epsg() == 5070
    assert [float(v) for v in cf["GeoTransform"].split()] == list(grid.transform.to_gdal())


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"grid_crs": "EPSG:5070", "grid_resolution_m": 4000.0},
        {"grid_crs": "EPSG:5070", "grid_bounds_m": [0, 0, 4000, 4000]},
        {"grid_crs": "EPSG:5070", "grid_resolution_m": 4000.0, "grid_bounds_m": [0, 0, 4000]},
        {"grid_crs": "EPSG:5070", "grid_resolution_m": "four", "grid_bounds_m": [0, 0, 4000, 4000]},
    ],
    ids=["empty", "no-bounds", "no-resolution", "three-bounds", "bad-resolution"],
)
def test_from_attrs_missing_or_bad(attrs):
    with pytest.raises(InputError, match=r"no grid description in the attributes.*grid_crs, grid_resolution_m, grid_bounds_m"):
        Grid.from_attrs(attrs)


def test_grid_is_frozen(grid):
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.resolution_m = 1.0  # type: ignore[misc]


# ---- bad inputs ---------------------------------------------------------------------------------


def test_geographic_crs_is_refused():
    with pytest.raises(InputError, match=r"grid CRS 'EPSG:4326' is not projected"):
        Grid("EPSG:4326", 0.01, -96.0, 40.0, -95.0, 41.0)
    with pytest.raises(InputError, match=r"not projected"):
        Grid.covering((-96.0, 40.0, -95.0, 41.0), 0.01, crs="EPSG:4326")


@pytest.mark.parametrize(
    "bounds",
    [(0.0, 0.0, 0.0, 4000.0), (0.0, 0.0, 4000.0, 0.0), (4000.0, 0.0, 0.0, 4000.0), (0.0, float("nan"), 4000.0, 4000.0)],
    ids=["zero-width", "zero-height", "inverted", "nan"],
)
def test_empty_bounds_are_refused(bounds):
    with pytest.raises(InputError, match=r"grid bounds are empty.*expected min < max"):
        Grid(ALBERS_CONUS, 1000.0, *bounds)


@pytest.mark.parametrize("res", [0.0, -1000.0, float("nan"), float("inf")])
def test_non_positive_resolution_is_refused(res):
    with pytest.raises(InputError, match=r"grid resolution must be a positive number of metres"):
        Grid(ALBERS_CONUS, res, 0.0, 0.0, 4000.0, 4000.0)


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        Grid(ALBERS_CONUS, -1.0, 0.0, 0.0, 4000.0, 4000.0)


# ---- edge cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", ["EPSG:99999", "not a crs"])
def test_unknown_crs_raises_input_error(crs):
    with pytest.raises(InputError, match=r"CRS"):
        Grid(crs, 1000.0, 0.0, 0.0, 4000.0, 4000.0)


def test_bounds_not_whole_pixels_are_refused():
    with pytest.raises(InputError):
        Grid(ALBERS_CONUS, 1000.0, 0.0, 0.0, 2500.0, 1000.0)
