"""The files users bring (Quick Stats yields, rasters, land-cover maps, API answers) are read correctly or
refused with a message naming the file, the row or band, what was found and what to do."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from geoapp.cli import main
from geoapp.data.cropland import county_crop_centres
from geoapp.data.footprint import raster_footprint
from geoapp.data.ingest import ingest_manifest
from geoapp.data.nass import read_quickstats
from geoapp.data.nass_api import QuickStatsClient, QuickStatsKeyError, QuickStatsServiceError, fetch_county_yields
from geoapp.errors import CRSError, DataFileError, InputError
from tests.fixtures.quickstats import CORN, quickstats_csv, ragged_export, row
from tests.fixtures.rasters import from_origin, iowa_grid, write_geotiff, write_manifest

# ---- Quick Stats yields ------------------------------------------------------------------------------

GOOD = row(2020, "IOWA", "19", "ADAIR", "001", "52.3")


def yields_file(tmp_path: Path, *rows: dict, name: str = "yields.csv") -> Path:
    path = tmp_path / name
    path.write_text(quickstats_csv([GOOD, *rows]), encoding="utf-8")
    return path


BAD_YIELDS = [
    ("1e400 as digits", "1" + "0" * 400, r"'10000000000000000000\.\.\.' \(401 characters\) \(read as inf\)"),
    ("negative", "-12.5", r"'-12\.5'"),
    ("1e12", "1000000000000", r"'1000000000000'"),
    ("exponent", "1e12", r"'1e12'"),
    ("soybean over 150", "151", r"'151'"),
]


@pytest.mark.parametrize(("value", "shown"), [c[1:] for c in BAD_YIELDS], ids=[c[0] for c in BAD_YIELDS])
def test_implausible_yield_is_refused_with_its_row(tmp_path: Path, value: str, shown: str) -> None:
    path = yields_file(tmp_path, row(2021, "IOWA", "19", "ADAMS", "003", value))
    match = (
        r"yields\.csv: 1 yield value\(s\) outside the plausible 0-150 \(bu/acre, the default for SOYBEANS.*"
        + shown
        + r" \(line 3, county ADAMS, IOWA, year 2021\).*unit or parsing error"
    )
    with pytest.raises(InputError, match=match):
        read_quickstats(path)


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "NaN", "1.2.3"])
def test_non_numbers_are_refused_with_their_row(tmp_path: Path, value: str) -> None:
    path = yields_file(tmp_path, row(2021, "IOWA", "19", "ADAMS", "003", value))
    with pytest.raises(InputError, match=rf"yields\.csv: Value is not a number; found '{value}' \(line 3, county ADAMS, IOWA"):
        read_quickstats(path)


@pytest.mark.parametrize("year", [1066, 1899, 2101, 9999])
def test_years_outside_1900_2100_are_refused_with_their_row(tmp_path: Path, year: int) -> None:
    path = yields_file(tmp_path, row(year, "IOWA", "19", "ADAMS", "003", "50"))
    with pytest.raises(
        InputError, match=rf"yields\.csv: 1 row\(s\) with a Year outside 1900-2100: '{year}' \(line 3, county ADAMS"
    ):
        read_quickstats(path)


def test_first_few_bad_rows_are_listed_and_the_rest_counted(tmp_path: Path) -> None:
    rows = [row(2000 + i, "IOWA", "19", "ADAMS", "003", "-1") for i in range(8)]
    with pytest.raises(InputError, match=r"8 yield value\(s\).*line 7, .*year 2004\) and 3 more"):
        read_quickstats(yields_file(tmp_path, *rows))


def test_plausible_range_is_configurable_and_defaults_follow_the_commodity(tmp_path: Path) -> None:
    path = yields_file(tmp_path, row(2021, "IOWA", "19", "ADAMS", "003", "160"))
    assert read_quickstats(path, plausible_range=(0, 200))["yield"].max() == 160.0
    with pytest.raises(InputError, match=r"outside the plausible 60-150 \(the data item's units, the plausible_range given\)"):
        read_quickstats(path, plausible_range=(60, 150))
    corn = yields_file(tmp_path, row(2021, "IOWA", "19", "ADAMS", "003", "250", commodity="CORN", item=CORN), name="corn.csv")
    assert read_quickstats(corn, commodity="CORN", data_item=CORN)["yield"].tolist() == [250.0]
    corn = yields_file(tmp_path, row(2021, "IOWA", "19", "ADAMS", "003", "350", commodity="CORN", item=CORN), name="corn.csv")
    with pytest.raises(InputError, match=r"outside the plausible 0-300 \(bu/acre, the default for CORN"):
        read_quickstats(corn, commodity="CORN", data_item=CORN)


@pytest.mark.parametrize("bad", [(150, 0), (0, float("nan")), ("low", 150), (1,)])
def test_bad_plausible_range_argument(tmp_path: Path, bad: tuple) -> None:
    with pytest.raises(InputError, match=r"plausible_range=.*expected"):
        read_quickstats(yields_file(tmp_path), plausible_range=bad)


def test_ragged_lines_are_malformed_not_non_county_rows(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(ragged_export(), encoding="utf-8")
    with pytest.raises(
        DataFileError,
        match=r"ragged\.csv: 2 malformed line\(s\) with a different number of fields than the header's 21: "
        r"line 3 has 17, line 5 has 22; .*export or download it again",
    ):
        read_quickstats(path)


def test_a_huge_or_non_utf8_file_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"huge\.csv: cannot read as a Quick Stats CSV export: line 3: field larger"):
        read_quickstats(yields_file(tmp_path, row(2021, "IOWA", "19", "ADAMS", "003", "1" + "0" * 200_000), name="huge.csv"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(quickstats_csv([row(2021, "COLORADO", "08", "CAÑON", "043", "50")]).encode("latin-1"))
    with pytest.raises(DataFileError, match=r"latin\.csv: .*not UTF-8 text.*save it as UTF-8"):
        read_quickstats(latin)


def test_blank_lines_are_not_malformed(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    text = quickstats_csv([GOOD, row(2021, "IOWA", "19", "ADAIR", "001", "55")])
    head, *rest = text.splitlines()
    path.write_text("\n".join([head, "", *rest, "", ""]), encoding="utf-8")
    df = read_quickstats(path)
    assert df["yield"].tolist() == [52.3, 55.0]
    assert df.attrs["dropped"]["non_county"] == 0


# ---- rasters: values outside the band's physical range ---------------------------------------------------


def tif(path: Path, value: float, crs: str | None = "EPSG:5070", dtype: str = "float32") -> Path:
    """A 2 km constant raster covering the Iowa test grid (with 8 km to spare)."""
    grid = iowa_grid()
    data = np.full((56, 66), value, dtype=dtype)
    return write_geotiff(path, data, from_origin(grid.xmin - 8000.0, grid.ymax + 8000.0, 2000.0, 2000.0), crs)


def ingest_one(tmp_path: Path, band: str, file: str, **columns: float) -> None:
    static = band in ("elevation", "sand", "silt", "clay")
    header = ("band", "year", "month", "path", *columns)
    manifest = write_manifest(
        tmp_path / "m.csv", [(band, None if static else 2017, None if static else 7, file, *columns.values())], header
    )
    if static:  # a cube needs a dynamic band
        tif(tmp_path / "ndvi.tif", 0.5)
        with manifest.open("a") as fh:
            fh.write("ndvi,2017,8,ndvi.tif" + "," * len(columns) + "\n")
    ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)


BAD_BANDS = [
    ("kelvin lst", "lst_day", 295.0, r"lst_day values span 295\.\.295 over the grid, outside the physical range -100\.\.100 .*"
     r"look like kelvin: give this manifest row offset -273\.15"),
    ("kelvin x 50", "lst_night", 14000.0, r"lst_night values span 14000\.\.14000.*kelvin x 50.*scale 0\.02 .*offset -273\.15"),
    ("ndvi x 10000", "ndvi", 7000.0, r"ndvi values span 7000\.\.7000.*physical range -1\.\.1.*NDVI x 10000.*scale 0\.0001"),
    ("evi above 1", "evi", 1.5, r"evi values span 1\.5\.\.1\.5.*physical range -1\.\.1"),
    ("sand in percent", "sand", 40.0, r"sand values span 40\.\.40.*physical range 0\.\.1.*percent.*scale 0\.01"),
    ("clay in g/kg", "clay", 300.0, r"clay values span 300\.\.300.*g/kg.*scale 0\.001"),
    ("negative rain", "ppt", -5.0, r"ppt values span -5\.\.-5.*physical range 0\.\.10000.*impossible.*nodata"),
]  # fmt: skip


@pytest.mark.parametrize(("band", "value", "match"), [c[1:] for c in BAD_BANDS], ids=[c[0] for c in BAD_BANDS])
def test_values_outside_the_physical_range_are_refused(tmp_path: Path, band: str, value: float, match: str) -> None:
    tif(tmp_path / "bad.tif", value)
    with pytest.raises(InputError, match=r"raster 'bad\.tif' \(manifest line 2, .*bad\.tif'\): " + match):
        ingest_one(tmp_path, band, "bad.tif")
    assert not (tmp_path / "cube.nc").exists()


def test_kelvin_converts_with_the_manifest_offset(tmp_path: Path) -> None:
    tif(tmp_path / "lst.tif", 14765.0)  # MODIS LST, kelvin x 50
    ingest_one(tmp_path, "lst_day", "lst.tif", scale=0.02, offset=-273.15)
    cube = xr.open_dataset(tmp_path / "cube.nc")
    np.testing.assert_allclose(cube["lst_day"].sel(year=2017, month=7), 22.15, atol=0.01)
    cube.close()


def test_infinite_pixels_are_refused(tmp_path: Path) -> None:
    grid = iowa_grid()
    data = np.full((56, 66), 50.0, dtype="float32")
    data[10:20, 10:20] = np.inf  # warping would make them nodata without a word
    write_geotiff(tmp_path / "inf.tif", data, from_origin(grid.xmin - 8000.0, grid.ymax + 8000.0, 2000.0, 2000.0), "EPSG:5070")
    with pytest.raises(InputError, match=r"raster 'inf\.tif' \(manifest line 2.*100 pixel\(s\) of band 1 are infinite.*nodata"):
        ingest_one(tmp_path, "ppt", "inf.tif")


def test_implausible_but_possible_values_only_warn(tmp_path: Path) -> None:
    tif(tmp_path / "wet.tif", 2500.0)
    with pytest.warns(UserWarning, match=r"ppt values lie outside the plausible 0\.\.2000"):
        ingest_one(tmp_path, "ppt", "wet.tif")


# ---- rasters: files GDAL cannot read ---------------------------------------------------------------------


def truncated(d: Path) -> Path:
    """The first half of a valid GeoTIFF, as an interrupted download leaves it."""
    grid = iowa_grid()
    data = np.random.default_rng(0).random((56, 66)).astype("float32")
    full = write_geotiff(d / "full.tif", data, from_origin(grid.xmin - 8000.0, grid.ymax + 8000.0, 2000.0, 2000.0), "EPSG:5070")
    content = full.read_bytes()
    (d / "bad.tif").write_bytes(content[: len(content) // 2])
    return d / "bad.tif"


def header_only(d: Path) -> Path:
    data = truncated(d).read_bytes()
    (d / "bad.tif").write_bytes(data[:100])
    return d / "bad.tif"


def empty_file(d: Path) -> Path:
    (d / "bad.tif").write_bytes(b"")
    return d / "bad.tif"


def text_file(d: Path) -> Path:
    (d / "bad.tif").write_text("<html>404 Not Found</html>\n")
    return d / "bad.tif"


def netcdf_without_variables(d: Path) -> Path:
    xr.Dataset().to_netcdf(d / "bad.nc")
    return d / "bad.nc"


def netcdf_with_only_coordinates(d: Path) -> Path:
    xr.Dataset(coords={"lat": [41.0, 42.0], "lon": [-94.0, -93.0]}).to_netcdf(d / "bad.nc")
    return d / "bad.nc"


UNREADABLE = [
    ("truncated", truncated, r"the file is truncated or corrupt \(rasterio: .*TIFFReadEncodedStrip.*\); download or export"),
    ("header only", header_only, r"the file is truncated or corrupt \(rasterio: .*TIFFReadDirectory"),
    ("empty", empty_file, r"the file is empty \(0 bytes\); expected a GeoTIFF or NetCDF raster"),
    ("not a raster", text_file, r"it is not a raster GDAL can read .*starts with b'<html>40'.*expected a GeoTIFF or NetCDF"),
    ("netcdf without variables", netcdf_without_variables, r"the NetCDF file holds no data variables \(it holds nothing"),
    ("netcdf of coordinates", netcdf_with_only_coordinates,
     r"the NetCDF file holds no data variables \(it holds only coordinates lat, lon; dimensions lat=2, lon=2\)"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "match"), [c[1:] for c in UNREADABLE], ids=[c[0] for c in UNREADABLE])
def test_unreadable_rasters_say_what_the_file_is(tmp_path: Path, make, match: str) -> None:  # noqa: ANN001
    bad = make(tmp_path)
    with pytest.raises(DataFileError, match=rf"cannot read raster '{bad.name}' \(manifest line 2, .*\): " + match):
        ingest_one(tmp_path, "ppt", bad.name)
    assert not (tmp_path / "cube.nc").exists()
    if make is not truncated:  # the footprint reads only the header, which a half file still has
        with pytest.raises(DataFileError, match=rf"cannot read raster '.*{bad.name}': " + match):
            raster_footprint(str(bad))


def test_raster_without_crs(tmp_path: Path) -> None:
    tif(tmp_path / "nocrs.tif", 10.0, crs=None)
    with pytest.raises(
        CRSError, match=r"raster 'nocrs\.tif' \(manifest line 2.*has no CRS.*gdal_edit\.py -a_srs EPSG:4326 nocrs\.tif"
    ):
        ingest_one(tmp_path, "ppt", "nocrs.tif")
    with pytest.raises(CRSError, match=r"nocrs\.tif' has no CRS"):
        raster_footprint(str(tmp_path / "nocrs.tif"))


def test_netcdf_of_several_variables_named_without_one(tmp_path: Path) -> None:
    ds = xr.Dataset({"ppt": (("y", "x"), np.ones((3, 4))), "tmean": (("y", "x"), np.ones((3, 4)))})
    ds.to_netcdf(tmp_path / "clim.nc")
    with pytest.raises(InputError, match=r"clim\.nc' holds several variables \(ppt, tmean\); name one .* file\.nc:variable"):
        raster_footprint(str(tmp_path / "clim.nc"))


def test_cli_ingest_of_a_truncated_raster_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truncated(tmp_path)
    manifest = write_manifest(tmp_path / "m.csv", [("ppt", 2017, 7, "bad.tif")])
    rc = main(["data", "ingest", "--manifest", str(manifest), "--out", str(tmp_path / "cube.nc"), "--resolution-km", "100"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # the rest is the progress bar
    assert rc != 0 and "Traceback" not in err
    assert len(errors) == 1 and errors[0].startswith("error: cannot read raster 'bad.tif'")
    assert "truncated or corrupt" in errors[0] and "download or export it again" in errors[0]
    assert not (tmp_path / "cube.nc").exists()


# ---- land-cover maps -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counties():
    from geoapp.data.counties import load_counties

    return load_counties(["IA"])


def test_cropland_without_crs_names_the_file(tmp_path: Path, counties) -> None:  # noqa: ANN001
    tif(tmp_path / "lc.tif", 12, crs=None, dtype="uint8")
    with pytest.raises(CRSError, match=r"cropland raster 'lc\.tif' has no CRS"):
        county_crop_centres(tmp_path / "lc.tif", counties, iowa_grid())


def test_cropland_without_crop_pixels_names_the_classes_found(tmp_path: Path, counties) -> None:  # noqa: ANN001
    tif(tmp_path / "lc.tif", 10, dtype="uint8")
    with pytest.raises(InputError, match=r"cropland raster 'lc\.tif' has no pixel of crop class\(es\) \[12, 14\].*10 \(\d+ px\)"):
        county_crop_centres(tmp_path / "lc.tif", counties, iowa_grid())


CROPLAND_UNREADABLE = [
    (truncated, r"the file is truncated or corrupt \(rasterio: .*\); download or export it again"),
    (text_file, r"it is not a raster GDAL can read .*expected a GeoTIFF or NetCDF land-cover map of class codes"),
    (empty_file, r"the file is empty \(0 bytes\); expected a GeoTIFF or NetCDF land-cover map"),
]


@pytest.mark.parametrize(("make", "match"), CROPLAND_UNREADABLE, ids=["truncated", "not a raster", "empty"])
def test_unreadable_cropland_says_what_the_file_is(tmp_path: Path, counties, make, match: str) -> None:  # noqa: ANN001
    bad = make(tmp_path)
    with pytest.raises(DataFileError, match=rf"cannot read cropland raster '{bad.name}': {match}"):
        county_crop_centres(bad, counties, iowa_grid())


# ---- the Quick Stats API ---------------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, body: str, status: int = 200) -> None:
        self.status, self._body = status, body.encode()

    def read(self) -> bytes:
        return self._body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def answer_with(monkeypatch: pytest.MonkeyPatch, counts: str, csv_body: str = "", status: int = 200) -> None:
    """Make every request answer ``counts`` (get_counts) or ``csv_body`` (api_GET) with ``status``."""

    def urlopen(request: urllib.request.Request, timeout: float) -> FakeResponse:
        body = counts if "/get_counts/" in request.full_url else csv_body
        if status >= 400:
            raise urllib.error.HTTPError(request.full_url, status, "refused", Message(), io.BytesIO(body.encode()))
        return FakeResponse(body, status)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def fetch(tmp_path: Path) -> None:
    fetch_county_yields("SOYBEANS", ["IA"], (2017, 2018), tmp_path / "y.csv", key="k" * 36, retries=0, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("counts", "status"),
    [('{"error": ["unauthorized"]}', 200), ('{"error": ["unauthorized"]}', 401), ("Forbidden", 403)],
)
def test_refused_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: str, status: int) -> None:
    answer_with(monkeypatch, counts, status=status)
    with pytest.raises(QuickStatsKeyError, match=rf"refused the API key \(HTTP {status}"):
        fetch(tmp_path)
    assert not (tmp_path / "y.csv").exists()


@pytest.mark.parametrize("counts", ['{"count": -3}', '{"count": "many"}', '{"count": true}', "[1, 2]", "<html>hi</html>"])
def test_garbage_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: str) -> None:
    answer_with(monkeypatch, counts)
    with pytest.raises(QuickStatsServiceError, match=r'answered get_counts with .*expected JSON \{"count": N\}'):
        fetch(tmp_path)


def test_cut_short_csv_answer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = 'year,Value,county_ansi\n"2017","52.3","001"\n"2018","5'
    answer_with(monkeypatch, '{"count": 2}', body)
    with pytest.raises(QuickStatsServiceError, match=r"1 malformed record\(s\) \(record 3 has 2 fields, the header 3\)"):
        fetch(tmp_path)
    assert not (tmp_path / "y.csv").exists()


def test_html_instead_of_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, '{"count": 2}', "<html><body>Maintenance</body></html>")
    with pytest.raises(QuickStatsServiceError, match=r"expected a Quick Stats CSV with 'year' and 'Value' columns"):
        fetch(tmp_path)


def test_key_never_appears_in_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    answer_with(monkeypatch, "oops", status=500)
    client = QuickStatsClient("SECRET-KEY", retries=0, sleep=lambda s: None)
    with pytest.raises(QuickStatsServiceError) as info:
        client.count({"commodity_desc": "SOYBEANS"})
    assert "SECRET-KEY" not in str(info.value) and "key=***" in str(info.value)
