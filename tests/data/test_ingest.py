"""Tests for geoapp.data.ingest: manifests, reprojection onto the cube grid, gap reports, bad inputs.

Every raster lies over a 100 km x 80 km patch of Iowa; the cube grid is that patch in EPSG:5070 at
4 km (25 x 20 pixels), so a whole ingest takes well under a second. Values are checked after the cube
is saved and reopened, so the tolerances allow for the cube's int16 packing (``PACKING`` in cube.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geoapp.data.bands import BANDS, DYNAMIC_BANDS, MONTHS, STATIC_BANDS
from geoapp.data.cube import empty_cube, open_cube, save_cube
from geoapp.data.grid import Grid
from geoapp.data.ingest import IngestReport, ingest_manifest, read_manifest
from geoapp.errors import CRSError, DataFileError, InputError
from tests.fixtures.rasters import (
    from_origin,
    geotiff_transform_lonlat,
    iowa_grid,
    lonlat_axes,
    lonlat_box,
    write_garbled,
    write_geotiff,
    write_manifest,
    write_netcdf_lonlat,
)

MARGIN_M = 8000.0
"""How far the fixture rasters in EPSG:5070 extend beyond the grid on every side, in metres."""


def lon_lat_ramp(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """A linear field of longitude and latitude in degC: 20 at (93.5 W, 42.2 N)."""
    return 20.0 + 2.0 * (lon + 93.5) + 3.0 * (lat - 42.2)


def aligned_tif(path: Path, grid: Grid, values: np.ndarray, step_m: float, nodata: float | None = None) -> Path:
    """A GeoTIFF in the grid's CRS with pixels of ``step_m`` aligned to the grid, extending MARGIN_M beyond it."""
    return write_geotiff(path, values, from_origin(grid.xmin - MARGIN_M, grid.ymax + MARGIN_M, step_m, step_m), grid.crs, nodata)


def aligned_shape(grid: Grid, step_m: float) -> tuple[int, int]:
    """(rows, cols) of :func:`aligned_tif` at ``step_m``."""
    return (
        int(round((grid.ymax - grid.ymin + 2 * MARGIN_M) / step_m)),
        int(round((grid.xmax - grid.xmin + 2 * MARGIN_M) / step_m)),
    )


def block_means(fine: np.ndarray, grid: Grid, step_m: float) -> np.ndarray:
    """NaN-skipping mean of the fine pixels inside each grid pixel (fine raster from :func:`aligned_tif`)."""
    k = int(round(grid.resolution_m / step_m))
    m = int(round(MARGIN_M / step_m))
    inner = fine[m : m + grid.height * k, m : m + grid.width * k]
    with np.errstate(invalid="ignore"):
        blocks = inner.reshape(grid.height, k, grid.width, k)
        count = (~np.isnan(blocks)).sum(axis=(1, 3))
        return np.where(count > 0, np.nansum(blocks, axis=(1, 3)) / np.maximum(count, 1), np.nan)


# ---- a full ingest, built once ---------------------------------------------------------------


class Built:
    """The inputs and outputs of the shared ingest (see :func:`built`)."""

    grid: Grid
    ndvi: np.ndarray  # 1 km EPSG:5070 source, float32, -9999 nodata
    evi: np.ndarray  # 1 km EPSG:5070 source, int16 x 10000, -3000 nodata
    lst_night: np.ndarray  # 2 km EPSG:5070 source, float32 with NaN, no nodata
    report: IngestReport
    out: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Ingest one manifest covering every raster kind; the cube has years 2017 and 2018."""
    d = tmp_path_factory.mktemp("ingest")
    grid = iowa_grid()
    rng = np.random.default_rng(42)
    b = Built()
    b.grid = grid

    # ndvi: 1 km, aligned; one whole grid pixel (row 3, col 5) of nodata, one single nodata pixel in (0, 0).
    ndvi = rng.uniform(0.1, 0.9, aligned_shape(grid, 1000.0)).astype(np.float32)
    m = int(MARGIN_M / 1000)
    ndvi[m + 12 : m + 16, m + 20 : m + 24] = -9999.0
    ndvi[m, m] = -9999.0
    aligned_tif(d / "ndvi_2017_07.tif", grid, ndvi, 1000.0, nodata=-9999.0)
    b.ndvi = np.where(ndvi == -9999.0, np.nan, ndvi)

    # evi: integers x 10000 (as MODIS stores them), converted with the manifest's scale column.
    evi = rng.integers(1000, 8000, aligned_shape(grid, 1000.0)).astype(np.int16)
    evi[m + 40 :, :] = -3000
    aligned_tif(d / "evi_2017_07.tif", grid, evi, 1000.0, nodata=-3000)
    b.evi = np.where(evi == -3000, np.nan, evi * 1e-4)

    # lst_night: 2 km float with NaN holes and no nodata value.
    lst_night = rng.normal(15.0, 3.0, aligned_shape(grid, 2000.0)).astype(np.float32)
    lst_night[:, : int(MARGIN_M / 2000) + 4] = np.nan  # the two westmost grid columns
    aligned_tif(d / "lst_night_2017_07.tif", grid, lst_night, 2000.0)
    b.lst_night = lst_night

    # lst_day: EPSG:4326 at 0.005 degrees (about 450 m): a linear ramp in lon and lat.
    box = lonlat_box(grid)
    lon, lat = lonlat_axes(box, 0.005)
    lst_day = lon_lat_ramp(*np.meshgrid(lon, lat[::-1])).astype(np.float32)
    write_geotiff(d / "lst_day_2017_07.tif", lst_day, geotiff_transform_lonlat(box, 0.005), "EPSG:4326")

    # ppt: one NetCDF with two variables, lat increasing (south first), 0.01 degrees.
    lon, lat = lonlat_axes(box, 0.01)
    llon, llat = np.meshgrid(lon, lat)
    (d / "climate").mkdir()
    write_netcdf_lonlat(
        d / "climate" / "prism.nc",
        {"ppt": 100.0 + 40.0 * (llat - 42.2), "tmean": lon_lat_ramp(llon, llat)},
        lon,
        lat,
    )

    # elevation: 10 km pixels (coarser than the grid: bilinear), linear in x.
    shape = aligned_shape(grid, 10_000.0)
    x_centres = grid.xmin - MARGIN_M + 10_000.0 * (np.arange(shape[1]) + 0.5)
    elevation = np.broadcast_to(300.0 + 0.001 * (x_centres - grid.xmin), shape).astype(np.float32)
    write_geotiff(
        d / "elevation.tif",
        elevation,
        from_origin(grid.xmin - MARGIN_M, grid.ymax + MARGIN_M, 10_000.0, 10_000.0),
        grid.crs,
    )

    write_manifest(
        d / "manifest.csv",
        [
            ("ndvi", 2017, 7, "ndvi_2017_07.tif", None),
            ("EVI", 2017, 7, "evi_2017_07.tif", 0.0001),
            ("lst_night", 2017, 7, "lst_night_2017_07.tif", None),
            ("lst_day", 2017, 7, str(d / "lst_day_2017_07.tif"), None),
            ("ppt", 2017, 7, "climate/prism.nc:ppt", None),
            ("ppt", 2018, 7, 'NETCDF:"climate/prism.nc":ppt', None),
            ("elevation", None, None, "elevation.tif", None),
        ],
        header=("band", "year", "month", "path", "scale"),
    )
    b.out = d / "cube.nc"
    b.report = ingest_manifest(d / "manifest.csv", b.out, grid=grid, progress=False)
    return b


def test_cube_is_saved_on_the_grid_with_manifest_years(built: Built) -> None:
    ds = open_cube(built.out, load=True)
    assert [int(y) for y in ds["year"].values] == [2017, 2018]
    assert ds.attrs["simulated"] == 0
    assert ds["ndvi"].shape == (2, len(MONTHS), built.grid.height, built.grid.width)
    np.testing.assert_allclose(ds["x"].values, built.grid.x)
    np.testing.assert_allclose(ds["y"].values, built.grid.y)


def test_aligned_1km_raster_averages_exact_4x4_blocks_skipping_nodata(built: Built) -> None:
    got = open_cube(built.out, load=True)["ndvi"].sel(year=2017, month=7).values
    want = block_means(built.ndvi, built.grid, 1000.0)
    assert np.isnan(got[3, 5]) and np.isnan(want[3, 5])
    np.testing.assert_allclose(got, want, atol=1e-4)  # packing step 1e-4
    assert built.report.to_frame().set_index(["band", "year", "month"]).loc[("ndvi", 2017, 7), "resampling"] == "average"


def test_integer_raster_with_nodata_and_manifest_scale(built: Built) -> None:
    got = open_cube(built.out, load=True)["evi"].sel(year=2017, month=7).values
    want = block_means(built.evi, built.grid, 1000.0)
    assert np.isnan(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_nan_in_float_raster_becomes_nan(built: Built) -> None:
    got = open_cube(built.out, load=True)["lst_night"].sel(year=2017, month=7).values
    assert np.isnan(got[:, :2]).all()
    np.testing.assert_allclose(got, block_means(built.lst_night, built.grid, 2000.0), atol=0.01)


def test_lonlat_raster_reprojects_to_cell_averages_of_a_ramp(built: Built) -> None:
    got = open_cube(built.out, load=True)["lst_day"].sel(year=2017, month=7).values
    lon, lat = built.grid.lonlat()
    np.testing.assert_allclose(got, lon_lat_ramp(lon, lat), atol=0.03)


def test_netcdf_variable_in_both_path_forms_lands_right_way_up(built: Built) -> None:
    ds = open_cube(built.out, load=True)
    _, lat = built.grid.lonlat()
    want = 100.0 + 40.0 * (lat - 42.2)
    for year in (2017, 2018):
        np.testing.assert_allclose(ds["ppt"].sel(year=year, month=7).values, want, atol=0.1)


def test_a_south_up_raster_lands_as_the_same_raster_north_up(tmp_path: Path) -> None:
    """A GeoTIFF whose rows run south to north (positive pixel height, as rioxarray writes ascending
    latitudes): its bounds' bottom lies above its top, and it used to be refused as "no overlap"."""
    from affine import Affine

    grid = iowa_grid()
    fine = np.random.default_rng(3).uniform(0.1, 0.9, aligned_shape(grid, 1000.0)).astype(np.float32)
    aligned_tif(tmp_path / "north.tif", grid, fine, 1000.0)
    south_origin = Affine(1000.0, 0.0, grid.xmin - MARGIN_M, 0.0, 1000.0, grid.ymin - MARGIN_M)
    write_geotiff(tmp_path / "south.tif", fine[::-1].copy(), south_origin, grid.crs)  # the first row is the south
    cubes = {}
    for name in ("north", "south"):
        manifest = write_manifest(tmp_path / f"{name}.csv", [("ndvi", 2017, 7, f"{name}.tif")], ("band", "year", "month", "path"))
        ingest_manifest(manifest, tmp_path / f"{name}.nc", grid=grid, progress=False)
        cubes[name] = open_cube(tmp_path / f"{name}.nc", load=True)["ndvi"].sel(year=2017, month=7).values
    np.testing.assert_allclose(cubes["south"], cubes["north"], atol=1e-4)
    np.testing.assert_allclose(cubes["north"], block_means(fine, grid, 1000.0), atol=1e-4)


def test_coarse_static_raster_is_interpolated_bilinearly(built: Built) -> None:
    got = open_cube(built.out, load=True)["elevation"].values
    want = 300.0 + 0.001 * (built.grid.x - built.grid.xmin)
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), atol=0.2)
    (slot,) = [s for s in built.report.filled if s.band == "elevation"]
    assert slot.resampling == "bilinear" and slot.year is None


def test_report_lists_every_slot_nan_fractions_and_gaps(built: Built) -> None:
    report = built.report
    n_slots = len(DYNAMIC_BANDS) * 2 * len(MONTHS) + len(STATIC_BANDS)
    assert len(report.slots) == n_slots and len(report.to_frame()) == n_slots
    assert len(report.filled) == 7
    missing = {(s.band, s.year, s.month) for s in report.missing}
    assert ("ppt", 2017, 8) in missing and ("ppt", 2017, 7) not in missing
    assert {("sand", None, None), ("silt", None, None), ("clay", None, None)} <= missing
    by_slot = {(s.band, s.year, s.month): s for s in report.filled}
    assert by_slot[("ndvi", 2017, 7)].nan_fraction == pytest.approx(1 / 500)
    assert by_slot[("lst_night", 2017, 7)].nan_fraction == pytest.approx(2 / 25)
    assert by_slot[("lst_day", 2017, 7)].source_crs == "EPSG:4326"
    text = report.summary()
    assert "Filled 7 of 74 slots" in text
    assert "ppt 2017: Mar, Apr, May, Jun, Aug, Sep" in text
    assert "ndvi 2018: all months" in text
    assert "sand, silt, clay (static)" in text
    assert "prism.nc:ppt" in text
    assert list(report.to_frame()["band"].unique()) == list(BANDS)


def test_missing_slots_hold_nan(built: Built) -> None:
    ds = open_cube(built.out, load=True)
    assert np.isnan(ds["ppt"].sel(year=2017, month=8).values).all()
    assert np.isnan(ds["sand"].values).all()


# ---- manifests ----------------------------------------------------------------------------------


def small_tif(path: Path, grid: Grid | None = None, value: float = 0.5) -> Path:
    """A 2 km constant raster in EPSG:5070 covering the test grid."""
    grid = grid or iowa_grid()
    return aligned_tif(path, grid, np.full(aligned_shape(grid, 2000.0), value, dtype=np.float32), 2000.0)


def test_read_manifest_types_and_paths(tmp_path: Path) -> None:
    small_tif(tmp_path / "a.tif")
    (tmp_path / "c.nc").write_bytes(b"")  # only its existence is checked here
    sub = tmp_path / "lists"
    sub.mkdir()
    write_manifest(
        sub / "m.csv",
        [
            ("NDVI", "2017", " 5", "../a.tif", "", ""),
            ("sand", "", "", str(tmp_path / "a.tif"), "2", "0.01"),
            ("ppt", 2017, 5, "../c.nc:ppt", "", ""),
            ("ppt", 2017, 6, 'NETCDF:"../c.nc":ppt', "", ""),
        ],
        header=("band", "year", "month", "path", "layer", "scale"),
    )
    df = read_manifest(sub / "m.csv")
    assert list(df["band"]) == ["ndvi", "sand", "ppt", "ppt"]
    assert list(df["line"]) == [2, 3, 4, 5]
    assert df["year"].tolist()[0] == 2017 and df["month"].tolist()[0] == 5
    assert df["year"].isna().tolist() == [False, True, False, False]
    assert df["path"].tolist()[:2] == [str((tmp_path / "a.tif").resolve())] * 2
    nc = (tmp_path / "c.nc").resolve()
    assert df["source"].tolist()[2:] == [f'NETCDF:"{nc}":ppt'] * 2
    assert df["layer"].isna().tolist() == [True, False, True, True]
    assert df["scale"].tolist() == [1.0, 0.01, 1.0, 1.0]
    assert df["offset"].tolist() == [0.0] * 4


BAD_MANIFESTS: list[tuple[str, list[tuple[object, ...]], type[Exception], str]] = [
    (
        "unknown band",
        [("nvdi", 2017, 7, "a.tif")],
        InputError,
        r"line 2: unknown band 'nvdi'; expected one of \['ndvi'",
    ),
    (
        "month 10",
        [("ndvi", 2017, 10, "a.tif")],
        InputError,
        r"line 2: month 10 is outside the growing season, March \(3\) to September \(9\)",
    ),
    (
        "no month",
        [("ndvi", 2017, None, "a.tif")],
        InputError,
        r"line 2: band 'ndvi' varies by year and month; give both",
    ),
    ("static with year", [("sand", 2017, None, "a.tif")], InputError, r"line 2: band 'sand' is static.*year '2017'"),
    ("fractional year", [("ndvi", "2017.5", 7, "a.tif")], InputError, r"line 2: year '2017.5' is not a whole number"),
    (
        "duplicate",
        [("ndvi", 2017, 7, "a.tif"), ("ndvi", 2017, 7, "a.tif")],
        InputError,
        r"line 3: duplicate slot ndvi 2017 month 7 \(already given on line 2\)",
    ),
    ("missing file", [("ndvi", 2017, 7, "nope.tif")], DataFileError, r"line 2: raster file 'nope.tif' not found"),
    (
        "two problems",
        [("nvdi", 2017, 7, "a.tif"), ("ndvi", 2017, 7, "nope.tif")],
        InputError,
        r"has 2 problems:\n  line 2: unknown band.*\n  line 3: raster file 'nope.tif' not found",
    ),
]


@pytest.mark.parametrize(("rows", "error", "match"), [c[1:] for c in BAD_MANIFESTS], ids=[c[0] for c in BAD_MANIFESTS])
def test_bad_manifest_rows_are_named(tmp_path: Path, rows: list[tuple[object, ...]], error: type[Exception], match: str) -> None:
    small_tif(tmp_path / "a.tif")
    manifest = write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(error, match=match):
        read_manifest(manifest)
    with pytest.raises(error, match=match):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert_no_output(tmp_path)


def test_bad_manifest_columns(tmp_path: Path) -> None:
    write_manifest(tmp_path / "m.csv", [("ndvi", 2017, "a.tif")], header=("band", "year", "path"))
    with pytest.raises(InputError, match=r"missing \['month'\]"):
        read_manifest(tmp_path / "m.csv")
    with pytest.raises(DataFileError, match="does not exist"):
        read_manifest(tmp_path / "absent.csv")


# ---- bad rasters ---------------------------------------------------------------------------------


def assert_no_output(folder: Path) -> None:
    """Neither the cube nor a temporary file of it was left in ``folder``."""
    assert not (folder / "cube.nc").exists()
    assert not list(folder.glob(".cube.nc.tmp-*"))


def no_crs(d: Path) -> Path:
    grid = iowa_grid()
    return write_geotiff(d / "bad.tif", np.ones((40, 50), np.float32), from_origin(grid.xmin, grid.ymax, 2000.0, 2000.0), None)


def far_away(d: Path) -> Path:  # a raster in Florida
    return write_geotiff(
        d / "bad.tif", np.ones((40, 50), np.float32), from_origin(1_400_000, 600_000, 2000.0, 2000.0), "EPSG:5070"
    )


def metres_labelled_degrees(d: Path) -> Path:
    grid = iowa_grid()
    return write_geotiff(
        d / "bad.tif", np.ones((40, 50), np.float32), from_origin(grid.xmin, grid.ymax, 2000.0, 2000.0), "EPSG:4326"
    )


def all_nodata(d: Path) -> Path:
    grid = iowa_grid()
    return aligned_tif(d / "bad.tif", grid, np.full(aligned_shape(grid, 2000.0), -1.0, np.float32), 2000.0, nodata=-1.0)


def garbled(d: Path) -> Path:
    return write_garbled(d / "bad.tif")


def scaled_ndvi(d: Path) -> Path:  # NDVI x 10000 with no scale column
    return small_tif(d / "bad.tif", value=7000.0)


BAD_RASTERS = [
    ("no crs", no_crs, CRSError, r"bad\.tif.*has no CRS.*\.prj or \.aux\.xml"),
    (
        "no overlap",
        far_away,
        CRSError,
        r"no overlap with the cube grid; do the CRSs match\? The raster covers \(1\.4e\+06, .* in EPSG:5070; "
        r"the grid covers \(200000, 2\.1e\+06, 300000, 2\.18e\+06\)",
    ),
    ("metres as degrees", metres_labelled_degrees, CRSError, r"no overlap.*in EPSG:4326"),
    ("all nodata", all_nodata, InputError, r"raster 'bad\.tif' \(manifest line 2.*no valid pixel over the grid"),
    ("garbled", garbled, DataFileError, r"cannot read raster 'bad\.tif'.*bad\.tif"),
    (
        "ndvi x 10000",
        scaled_ndvi,
        InputError,
        r"ndvi values span 7000\.\.7000.*outside the physical range -1\.\.1.*NDVI x 10000.*scale 0\.0001",
    ),
]


@pytest.mark.parametrize(("make", "error", "match"), [c[1:] for c in BAD_RASTERS], ids=[c[0] for c in BAD_RASTERS])
def test_bad_rasters_raise_and_leave_no_file(tmp_path: Path, make, error: type[Exception], match: str) -> None:  # noqa: ANN001
    small_tif(tmp_path / "good.tif")
    make(tmp_path)
    manifest = write_manifest(tmp_path / "m.csv", [("ndvi", 2017, 7, "bad.tif"), ("ndvi", 2017, 8, "good.tif")])
    with pytest.raises(error, match=match):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert_no_output(tmp_path)


def test_failure_keeps_the_previous_cube(tmp_path: Path) -> None:
    write_garbled(tmp_path / "bad.tif")
    save_cube(empty_cube(iowa_grid(), [2016], "previous cube", simulated=False), tmp_path / "cube.nc")
    before = (tmp_path / "cube.nc").read_bytes()
    manifest = write_manifest(tmp_path / "m.csv", [("ndvi", 2017, 7, "bad.tif")])
    with pytest.raises(DataFileError, match="bad.tif"):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert (tmp_path / "cube.nc").read_bytes() == before
    assert not list(tmp_path.glob(".cube.nc.tmp-*"))


def two_variable_netcdf(path: Path) -> Path:
    lon, lat = lonlat_axes(lonlat_box(iowa_grid()), 0.02)
    zeros = np.zeros((len(lat), len(lon)))
    return write_netcdf_lonlat(path, {"ppt": zeros + 50.0, "tmean": zeros + 20.0}, lon, lat)


def test_netcdf_without_variable_name_lists_variables(tmp_path: Path) -> None:
    two_variable_netcdf(tmp_path / "clim.nc")
    manifest = write_manifest(tmp_path / "m.csv", [("ppt", 2017, 7, "clim.nc")])
    with pytest.raises(InputError, match=r"holds several variables \(ppt, tmean\); name one .* file\.nc:variable"):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert_no_output(tmp_path)


def test_netcdf_unknown_variable(tmp_path: Path) -> None:
    two_variable_netcdf(tmp_path / "clim.nc")
    manifest = write_manifest(tmp_path / "m.csv", [("ppt", 2017, 7, "clim.nc:precip")])
    with pytest.raises(DataFileError, match=r"variable 'precip'\? It has: ppt, tmean"):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert_no_output(tmp_path)


def test_only_static_bands_is_an_error(tmp_path: Path) -> None:
    small_tif(tmp_path / "a.tif")
    manifest = write_manifest(tmp_path / "m.csv", [("sand", None, None, "a.tif")])
    with pytest.raises(InputError, match="only static bands"):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert_no_output(tmp_path)


# ---- multi-band rasters, progress, default grid --------------------------------------------------


def test_multiband_raster_uses_band_1_with_a_warning_or_the_layer_column(tmp_path: Path) -> None:
    grid = iowa_grid()
    stack = np.stack([np.full(aligned_shape(grid, 2000.0), v, np.float32) for v in (0.2, 0.4, 0.6)])
    aligned_tif(tmp_path / "stack.tif", grid, stack, 2000.0)
    manifest = write_manifest(tmp_path / "m.csv", [("ndvi", 2017, 7, "stack.tif")])
    with pytest.warns(UserWarning, match="has 3 bands; using band 1") as caught:
        report = ingest_manifest(manifest, tmp_path / "cube.nc", grid=grid, progress=False)
    assert [w.filename for w in caught] == [__file__]  # the warning points at the caller of ingest_manifest
    assert any("using band 1" in w for w in report.warnings)
    np.testing.assert_allclose(open_cube(tmp_path / "cube.nc", load=True)["ndvi"].sel(year=2017, month=7), 0.2, atol=1e-4)

    write_manifest(tmp_path / "m2.csv", [("ndvi", 2017, 7, "stack.tif", 2)], header=("band", "year", "month", "path", "layer"))
    ingest_manifest(tmp_path / "m2.csv", tmp_path / "cube2.nc", grid=grid, progress=False)
    np.testing.assert_allclose(open_cube(tmp_path / "cube2.nc", load=True)["ndvi"].sel(year=2017, month=7), 0.4, atol=1e-4)

    write_manifest(tmp_path / "m3.csv", [("ndvi", 2017, 7, "stack.tif", 4)], header=("band", "year", "month", "path", "layer"))
    with pytest.raises(InputError, match="layer 4 asked for, but the raster has only 3 band"):
        ingest_manifest(tmp_path / "m3.csv", tmp_path / "cube3.nc", grid=grid, progress=False)


def test_implausible_values_warn(tmp_path: Path) -> None:
    small_tif(tmp_path / "a.tif", value=2500.0)  # possible, but not as a monthly total in the study area
    manifest = write_manifest(tmp_path / "m.csv", [("ppt", 2017, 7, "a.tif")])
    with pytest.warns(UserWarning, match=r"100\.0% of ppt values lie outside the plausible 0\.\.2000") as caught:
        report = ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert [w.filename for w in caught] == [__file__]
    assert "Warnings (1)" in report.summary()


def test_kelvin_is_refused_or_converted_with_the_manifest_offset(tmp_path: Path) -> None:
    small_tif(tmp_path / "a.tif", value=290.0)  # kelvin, not degC
    manifest = write_manifest(tmp_path / "m.csv", [("lst_day", 2017, 7, "a.tif")])
    with pytest.raises(InputError, match=r"lst_day values span 290\.\.290 .*physical range -100\.\.100.*kelvin.*offset -273\.15"):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert_no_output(tmp_path)
    write_manifest(
        tmp_path / "m.csv", [("lst_day", 2017, 7, "a.tif", -273.15)], header=("band", "year", "month", "path", "offset")
    )
    ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    np.testing.assert_allclose(open_cube(tmp_path / "cube.nc", load=True)["lst_day"].sel(year=2017, month=7), 16.85, atol=0.01)


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_tif(tmp_path / "a.tif")
    manifest = write_manifest(tmp_path / "m.csv", [("ndvi", 2017, 7, "a.tif")])
    ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=True)
    assert "ingesting rasters" in capsys.readouterr().err


def test_default_grid_is_the_study_area(tmp_path: Path) -> None:
    small_tif(tmp_path / "a.tif")
    manifest = write_manifest(tmp_path / "m.csv", [("ndvi", 2017, 7, "a.tif")])
    report = ingest_manifest(manifest, tmp_path / "cube.nc", resolution_m=40_000.0, progress=False)
    grid = report.grid
    assert grid.crs == "EPSG:5070" and grid.resolution_m == 40_000.0
    # the 13 states reach from Kansas to Ohio and from Kentucky to North Dakota
    assert grid.xmin < -600_000 and grid.xmax > 1_200_000 and grid.ymin < 1_600_000 and grid.ymax > 2_900_000
    ds = open_cube(tmp_path / "cube.nc", load=True)
    assert ds["ndvi"].shape[2:] == grid.shape
    assert 0.0 < report.filled[0].nan_fraction < 1.0  # type: ignore[operator]


def test_very_large_sources_are_block_averaged_in_strips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A window above MAX_READ_PIXELS is read in strips and averaged in blocks before warping."""
    from geoapp.data.ingest import reproject

    factors: list[int] = []
    block_mean = reproject._block_mean
    monkeypatch.setattr(reproject, "MAX_READ_PIXELS", 5000)

    def spy(data: np.ndarray, factor: int) -> np.ndarray:
        factors.append(factor)
        return block_mean(data, factor)

    monkeypatch.setattr(reproject, "_block_mean", spy)
    grid = iowa_grid()
    rows, cols = aligned_shape(grid, 250.0)
    x = grid.xmin - MARGIN_M + 250.0 * (np.arange(cols) + 0.5)
    y = grid.ymax + MARGIN_M - 250.0 * (np.arange(rows) + 0.5)
    ramp = (0.2 + 2e-6 * (x[None, :] - grid.xmin) + 3e-6 * (y[:, None] - grid.ymin)).astype(np.float32)
    ramp[: int(MARGIN_M / 250) + 16, :] = -1.0  # the northmost grid row is nodata
    aligned_tif(tmp_path / "fine.tif", grid, ramp, 250.0, nodata=-1.0)
    manifest = write_manifest(tmp_path / "m.csv", [("ndvi", 2017, 7, "fine.tif")])
    ingest_manifest(manifest, tmp_path / "cube.nc", grid=grid, progress=False)
    assert factors and set(factors) == {4} and len(factors) > 10  # 1 km blocks, many strips
    got = open_cube(tmp_path / "cube.nc", load=True)["ndvi"].sel(year=2017, month=7).values
    want = 0.2 + 2e-6 * (grid.x[None, :] - grid.xmin) + 3e-6 * (grid.y[:, None] - grid.ymin)
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1:], want[1:], atol=2e-4)


def test_block_mean_skips_nan_and_pads_partial_blocks() -> None:
    from geoapp.data.ingest.reproject import _block_mean

    data = np.arange(15, dtype=np.float32).reshape(3, 5)
    data[0, 0] = np.nan
    got = _block_mean(data, 2)
    want = np.array([[(1 + 5 + 6) / 3, (2 + 3 + 7 + 8) / 4, (4 + 9) / 2], [(10 + 11) / 2, (12 + 13) / 2, 14]])
    np.testing.assert_allclose(got, want)
    assert np.isnan(_block_mean(np.full((2, 2), np.nan, np.float32), 2)).all()


def test_packed_netcdf_time_steps_are_picked_with_layer(tmp_path: Path) -> None:
    """An int16 NetCDF variable with scale_factor and a time dimension: one band per step, unpacked."""
    grid = iowa_grid()
    lon, lat = lonlat_axes(lonlat_box(grid), 0.02)
    llon, llat = np.meshgrid(lon, lat)
    steps = np.stack([50.0 + 10.0 * k + 20.0 * (llat - 42.2) for k in range(3)])
    steps[1, : len(lat) // 2] = np.nan  # the southern half of step 2 is missing
    write_netcdf_lonlat(tmp_path / "monthly.nc", {"ppt": steps}, lon, lat, packed_scale=0.01)
    write_manifest(
        tmp_path / "m.csv",
        [("ppt", 2017, 5, "monthly.nc", 1), ("ppt", 2017, 6, "monthly.nc", 2), ("ppt", 2017, 7, "monthly.nc", 3)],
        header=("band", "year", "month", "path", "layer"),
    )
    report = ingest_manifest(tmp_path / "m.csv", tmp_path / "cube.nc", grid=grid, progress=False)
    ppt = open_cube(tmp_path / "cube.nc", load=True)["ppt"].sel(year=2017)
    _, glat = grid.lonlat()
    for k, month in enumerate((5, 6, 7)):
        want = 50.0 + 10.0 * k + 20.0 * (glat - 42.2)
        got = ppt.sel(month=month).values
        if month == 6:  # north (first rows) kept, south (last rows) NaN; mixed rows in between
            assert np.isnan(got[-1]).all() and not np.isnan(got[0]).any()
            north = glat > lat[len(lat) // 2] + 0.05
            np.testing.assert_allclose(got[north], want[north], atol=0.1)
        else:
            np.testing.assert_allclose(got, want, atol=0.1)
    assert 0.2 < report.filled[1].nan_fraction < 0.8  # type: ignore[operator]


def test_netcdf_without_grid_mapping_has_no_crs(tmp_path: Path) -> None:
    lon, lat = lonlat_axes(lonlat_box(iowa_grid()), 0.05)
    write_netcdf_lonlat(tmp_path / "plain.nc", {"ppt": np.full((len(lat), len(lon)), 50.0)}, lon, lat, grid_mapping=False)
    manifest = write_manifest(tmp_path / "m.csv", [("ppt", 2017, 7, "plain.nc")])
    with pytest.raises(CRSError, match=r"has no CRS.*grid_mapping"):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert_no_output(tmp_path)


# ---- the package's names -------------------------------------------------------------------------


def test_every_name_of_the_ingest_module_stays_importable_from_the_package() -> None:
    """geoapp.data.ingest is a package (manifest, reproject, build, report); its names did not move."""
    import geoapp.data.ingest as ingest
    from geoapp.data.ingest import build, manifest, report, reproject

    assert ingest.read_manifest is manifest.read_manifest and ingest.ingest_manifest is build.ingest_manifest
    assert ingest.IngestReport is report.IngestReport and ingest.SlotStatus is report.SlotStatus
    assert ingest.MANIFEST_COLUMNS == ("band", "year", "month", "path") and ingest.OPTIONAL_COLUMNS == (
        "layer",
        "scale",
        "offset",
    )
    assert ingest.PLAUSIBLE_RANGE["ndvi"] == (-1.0, 1.0) and "scale 0.0001" in ingest.UNIT_HINTS["ndvi"]
    assert ingest.MAX_READ_PIXELS == reproject.MAX_READ_PIXELS == 2**25
    assert set(ingest.__all__) >= {"MANIFEST_COLUMNS", "OPTIONAL_COLUMNS", "PLAUSIBLE_RANGE", "SlotStatus", "IngestReport"}


def test_a_scale_given_twice_warns(tmp_path: Path) -> None:
    """MODIS-like NDVI stored as int16 with the file's own scale 0.0001, and the manifest's 0.0001 too: 1e-8 x raw."""
    import rasterio

    grid = iowa_grid()
    raw = np.random.default_rng(5).integers(2000, 8000, aligned_shape(grid, 2000.0)).astype(np.int16)
    path = aligned_tif(tmp_path / "ndvi.tif", grid, raw, 2000.0, nodata=-3000)
    with rasterio.open(path, "r+") as dst:
        dst.scales = (1e-4,)
    twice = write_manifest(
        tmp_path / "twice.csv", [("ndvi", 2017, 7, "ndvi.tif", 0.0001)], ("band", "year", "month", "path", "scale")
    )
    with pytest.warns(UserWarning) as caught:
        ingest_manifest(twice, tmp_path / "twice.nc", grid=grid, progress=False)
    messages = [str(w.message) for w in caught]
    assert any("carries its own scale 0.0001 and the manifest row adds scale 0.0001" in m for m in messages)
    assert any("ndvi values are all near 0" in m and "a scale applied twice" in m for m in messages)
    once = write_manifest(tmp_path / "once.csv", [("ndvi", 2017, 7, "ndvi.tif")])
    report = ingest_manifest(once, tmp_path / "once.nc", grid=grid, progress=False)  # the file's scale alone: no warning
    assert report.warnings == []
    got = open_cube(tmp_path / "once.nc", load=True)["ndvi"].sel(year=2017, month=7).values
    np.testing.assert_allclose(got, block_means(raw * 1e-4, grid, 2000.0), atol=1e-4)
