"""Tests for geoapp.data.cropland: crop centres from a categorical land-cover map, anchors, bad maps.

Two square "counties" (40 km x 40 km, EPSG:5070) sit in the 100 km x 80 km Iowa test patch, whose cube
grid is 25 x 20 pixels at 4 km. County A grows crops in its eastern half only; county B grows none.
Land-cover maps are written in EPSG:4326 (MCD12Q1-like IGBP codes) or EPSG:5070 (CDL-like codes).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Transformer

from geoapp.data import cropland as cropland_mod
from geoapp.data.cropland import (
    COUNTY_COLUMNS,
    IGBP_CROPLAND,
    county_anchors,
    county_crop_centres,
    parse_crop_codes,
)
from geoapp.data.grid import Grid
from geoapp.errors import CRSError, DataFileError, InputError
from tests.fixtures.rasters import from_origin, geotiff_transform_lonlat, iowa_grid, lonlat_axes, lonlat_box, write_geotiff

A_BOX = (212_000.0, 2_120_000.0, 252_000.0, 2_160_000.0)
"""County A in EPSG:5070 metres; its crops lie east of x = 232 km."""
B_BOX = (256_000.0, 2_120_000.0, 296_000.0, 2_160_000.0)
"""County B: no crop class anywhere."""
CROP_EAST_OF_M = 232_000.0


@pytest.fixture
def grid() -> Grid:
    return iowa_grid()


@pytest.fixture
def counties() -> gpd.GeoDataFrame:
    boxes = [shapely.box(*A_BOX), shapely.box(*B_BOX)]
    gdf = gpd.GeoDataFrame(
        {"geoid": ["99001", "99003"], "name": ["A", "B"], "state": ["ZZ", "ZZ"]}, geometry=boxes, crs="EPSG:5070"
    )
    return gdf.to_crs("EPSG:4326")


def igbp_lonlat(path: Path, grid: Grid, step_deg: float = 0.005, crop_code: int = 12) -> Path:
    """An IGBP map in EPSG:4326: ``crop_code`` in county A east of CROP_EAST_OF_M, grassland (10) elsewhere, 255 fill."""
    box = lonlat_box(grid)
    lon, lat = lonlat_axes(box, step_deg)
    glon, glat = np.meshgrid(lon, lat[::-1])  # rows north to south
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True).transform(glon, glat)
    x0, y0, x1, y1 = A_BOX
    crop = (x > CROP_EAST_OF_M) & (x < x1) & (y > y0) & (y < y1)
    cover = np.where(crop, crop_code, 10).astype(np.uint8)
    cover[:2] = 255
    return write_geotiff(path, cover, geotiff_transform_lonlat(box, step_deg), "EPSG:4326", nodata=255)


# ---- crop codes --------------------------------------------------------------------------------


def test_parse_crop_codes() -> None:
    assert parse_crop_codes("14, 12") == (12, 14) == parse_crop_codes([12, 14, 12]) == IGBP_CROPLAND
    assert parse_crop_codes([5.0]) == (5,)


@pytest.mark.parametrize(("codes", "match"), [("12,x", r"crop code 'x' is not a whole number"), ([], r"no crop codes given")])
def test_bad_crop_codes(codes, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse_crop_codes(codes)


# ---- crop centres ------------------------------------------------------------------------------


def test_crop_centre_is_the_centroid_of_the_crop_pixels_inside_the_county(tmp_path: Path, grid: Grid, counties) -> None:
    path = igbp_lonlat(tmp_path / "mcd12q1.tif", grid)
    centres = county_crop_centres(path, counties, grid)
    a, b = centres.iloc[0], centres.iloc[1]
    assert list(centres["geoid"]) == ["99001", "99003"]
    # A's crops fill x 232..252 km, y 2120..2160 km: centre (242, 2140) km, area 800 km^2
    assert a["centre_x"] == pytest.approx(242_000.0, abs=1_000.0)
    assert a["centre_y"] == pytest.approx(2_140_000.0, abs=1_000.0)
    assert a["cropland_km2"] == pytest.approx(800.0, rel=0.1)
    assert b["crop_pixels"] == 0 and np.isnan(b["centre_x"]) and b["cropland_km2"] == 0.0


def test_cdl_codes_in_another_crs(tmp_path: Path, grid: Grid, counties) -> None:
    """A CDL-like map in EPSG:5070 at 250 m: soybeans (5) in A's east half, corn (1) in its west half."""
    step = 250.0
    west, north = grid.xmin - 4_000.0, grid.ymax + 4_000.0
    rows, cols = int((grid.ymax - grid.ymin + 8_000.0) / step), int((grid.xmax - grid.xmin + 8_000.0) / step)
    x = west + (np.arange(cols) + 0.5) * step
    y = north - (np.arange(rows) + 0.5) * step
    xx, yy = np.meshgrid(x, y)
    in_a = (xx > A_BOX[0]) & (xx < A_BOX[2]) & (yy > A_BOX[1]) & (yy < A_BOX[3])
    cdl = np.where(in_a & (xx > CROP_EAST_OF_M), 5, np.where(in_a, 1, 176)).astype(np.uint8)
    path = write_geotiff(tmp_path / "cdl.tif", cdl, from_origin(west, north, step, step), "EPSG:5070", nodata=0)
    soy = county_crop_centres(path, counties, grid, crop_codes=[5])
    corn = county_crop_centres(path, counties, grid, crop_codes="1")
    assert soy["centre_x"].iloc[0] == pytest.approx(242_000.0, abs=300.0)
    assert corn["centre_x"].iloc[0] == pytest.approx(222_000.0, abs=300.0)
    assert soy["cropland_km2"].iloc[0] == pytest.approx(800.0, rel=0.02)
    # the same map south-up (rows from south to north, positive pixel height): the same centres
    south = Affine(step, 0.0, west, 0.0, step, north - rows * step)
    flipped = write_geotiff(tmp_path / "cdl-south-up.tif", cdl[::-1].copy(), south, "EPSG:5070", nodata=0)
    soy_flipped = county_crop_centres(flipped, counties, grid, crop_codes=[5])
    assert soy_flipped["centre_x"].iloc[0] == pytest.approx(soy["centre_x"].iloc[0], abs=1.0)
    assert soy_flipped["centre_y"].iloc[0] == pytest.approx(soy["centre_y"].iloc[0], abs=1.0)


def test_large_maps_are_counted_in_blocks(tmp_path: Path, grid: Grid, counties, monkeypatch: pytest.MonkeyPatch) -> None:
    path = igbp_lonlat(tmp_path / "mcd12q1.tif", grid, step_deg=0.0025)
    direct = county_crop_centres(path, counties, grid)
    monkeypatch.setattr(cropland_mod, "MAX_READ_PIXELS", 5_000)
    blocked = county_crop_centres(path, counties, grid)
    assert blocked["centre_x"].iloc[0] == pytest.approx(direct["centre_x"].iloc[0], abs=1_000.0)
    assert blocked["crop_pixels"].iloc[0] == pytest.approx(direct["crop_pixels"].iloc[0], rel=0.05)


def test_a_partial_block_at_the_maps_edge_is_placed_where_its_pixels_are(
    tmp_path: Path, grid: Grid, counties, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A map 163 px wide counted in 4 x 4 blocks: its last block column holds 3 pixels, not 4."""
    step, west, north, east = 250.0, grid.xmin, grid.ymax, 240_750.0
    rows, cols = int((grid.ymax - grid.ymin) / step), int((east - west) / step)
    x = west + (np.arange(cols) + 0.5) * step
    y = north - (np.arange(rows) + 0.5) * step
    xx, yy = np.meshgrid(x, y)
    crop = (xx > 240_000.0) & (yy > A_BOX[1]) & (yy < A_BOX[3])  # the last 3 columns, in county A
    path = write_geotiff(
        tmp_path / "edge.tif",
        np.where(crop, 5, 176).astype(np.uint8),
        from_origin(west, north, step, step),
        "EPSG:5070",
        nodata=0,
    )
    monkeypatch.setattr(cropland_mod, "MAX_READ_PIXELS", rows * cols // 30)  # blocks of 4 (a quarter grid pixel is 4)
    blocked = county_crop_centres(path, counties, grid, crop_codes=[5])
    assert cols % 4 == 3
    assert blocked["centre_x"].iloc[0] == pytest.approx(240_375.0, abs=1.0)  # the 3 columns' centre, not the block's (240,500)
    assert blocked["crop_pixels"].iloc[0] == (A_BOX[3] - A_BOX[1]) / step * 3


# ---- anchors -----------------------------------------------------------------------------------


def test_anchors_at_the_crop_centre_or_the_interior_point(tmp_path: Path, grid: Grid, counties) -> None:
    centres = county_crop_centres(igbp_lonlat(tmp_path / "mcd12q1.tif", grid), counties, grid)
    table = county_anchors(counties, grid, tile_px=4, centres=centres)
    assert list(table.columns) == list(COUNTY_COLUMNS)
    assert list(table["anchor_source"]) == ["cropland", "interior"]
    a, b = table.iloc[0], table.iloc[1]
    # A: the grid pixel nearest (242, 2140) km; B: the pixel under its interior point (its centre, 276, 2140 km)
    assert grid.x[a["anchor_col"]] == pytest.approx(242_000.0, abs=2_000.0)
    assert grid.y[a["anchor_row"]] == pytest.approx(2_140_000.0, abs=2_000.0)
    assert grid.x[b["anchor_col"]] == pytest.approx(276_000.0, abs=2_000.0)
    assert a["n_pixels"] == b["n_pixels"] == 100  # 40 km / 4 km squared
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(
        grid.x[a["anchor_col"]], grid.y[a["anchor_row"]]
    )
    assert (a["anchor_lon"], a["anchor_lat"]) == pytest.approx((lon, lat))


def test_without_a_map_every_anchor_is_the_interior_point(grid: Grid, counties) -> None:
    table = county_anchors(counties, grid, tile_px=4)
    assert set(table["anchor_source"]) == {"interior"} and table["cropland_km2"].isna().all()


def test_anchors_leave_a_whole_tile_on_the_grid(grid: Grid, counties) -> None:
    table = county_anchors(counties, grid, tile_px=16)  # 16 of the 20 rows: every anchor row is clipped to 8..12
    h, w = grid.shape
    assert table["anchor_row"].between(8, h - 16 + 8).all() and table["anchor_col"].between(8, w - 16 + 8).all()
    with pytest.raises(InputError, match=r"tile of 21 px does not fit the 20 x 25 px grid"):
        county_anchors(counties, grid, tile_px=21)


def test_a_tile_that_moves_most_anchors_off_their_cropland_is_warned_about(grid: Grid, counties) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 16 px: both anchors stay where they are, no warning
        county_anchors(counties, grid, tile_px=16)
    with pytest.warns(UserWarning, match=r"2 of 2 county anchors were moved .* 20 px tile \(80 km\) whole on the 20 x 25 px"):
        table = county_anchors(counties, grid, tile_px=20)
    assert table["anchor_col"].tolist() == [10, 15]  # pushed toward the middle


# ---- bad maps ----------------------------------------------------------------------------------


def test_map_without_crs(tmp_path: Path, grid: Grid, counties) -> None:
    path = write_geotiff(tmp_path / "nocrs.tif", np.full((10, 10), 12, np.uint8), from_origin(0, 10, 1, 1), None)
    with pytest.raises(CRSError, match=r"cropland raster 'nocrs.tif' has no CRS"):
        county_crop_centres(path, counties, grid)


def test_map_without_crop_pixels_names_the_classes_found(tmp_path: Path, grid: Grid, counties) -> None:
    path = igbp_lonlat(tmp_path / "mcd12q1.tif", grid)
    with pytest.raises(
        InputError, match=r"no pixel of crop class\(es\) \[5\] over the study area; the classes found there are 10 \("
    ):
        county_crop_centres(path, counties, grid, crop_codes=[5])


def test_map_of_fractions_is_refused(tmp_path: Path, grid: Grid, counties) -> None:
    box = lonlat_box(grid)
    lon, lat = lonlat_axes(box, 0.05)
    data = np.full((len(lat), len(lon)), 0.25, np.float32)
    path = write_geotiff(tmp_path / "fraction.tif", data, geotiff_transform_lonlat(box, 0.05), "EPSG:4326")
    with pytest.raises(InputError, match=r"holds fractional values \(e.g. 0.25\); expected a categorical land-cover map"):
        county_crop_centres(path, counties, grid)


def test_map_elsewhere_or_missing(tmp_path: Path, grid: Grid, counties) -> None:
    far = write_geotiff(tmp_path / "far.tif", np.full((10, 10), 12, np.uint8), from_origin(10.0, 50.0, 0.01, 0.01), "EPSG:4326")
    with pytest.raises(CRSError, match=r"cropland raster 'far.tif' does not overlap the cube grid"):
        county_crop_centres(far, counties, grid)
    with pytest.raises(DataFileError, match=r"cropland raster 'absent.tif' not found"):
        county_crop_centres(tmp_path / "absent.tif", counties, grid)
