"""Bad inputs to the data layer (wrong argument types, absurd grids, damaged dataset folders, folders where files
belong) are refused with one InputError or DataFileError naming the value, what was expected and what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from geoapp.cli import main
from geoapp.data.dataset import load_dataset
from geoapp.data.grid import Grid
from geoapp.data.ingest import ingest_manifest, read_manifest
from geoapp.data.nass import read_quickstats
from geoapp.data.real_dataset import build_real_dataset
from geoapp.errors import DataFileError, InputError, MissingDataError
from tests.fixtures.quickstats import quickstats_csv, row
from tests.fixtures.rasters import from_origin, iowa_grid, write_geotiff, write_manifest


@pytest.fixture
def yields_csv(tmp_path: Path) -> Path:
    path = tmp_path / "yields.csv"
    path.write_text(quickstats_csv([row(2020, "IOWA", "19", "ADAIR", "001", "52.3")]), encoding="utf-8")
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    grid = iowa_grid()
    data = np.full((int((grid.ymax - grid.ymin) / 2000) + 8, int((grid.xmax - grid.xmin) / 2000) + 8), 0.5, np.float32)
    write_geotiff(tmp_path / "ndvi.tif", data, from_origin(grid.xmin - 8000, grid.ymax + 8000, 2000, 2000), grid.crs)
    return write_manifest(tmp_path / "m.csv", [("ndvi", 2017, 7, "ndvi.tif")])


@pytest.fixture
def ds(tiny_dataset_path: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset, to damage."""
    return Path(shutil.copytree(tiny_dataset_path, tmp_path / "ds"))


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---- 1. arguments of the wrong type --------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"commodity": None}, r"commodity must be text \(str\), got NoneType None"),
        ({"commodity": 5}, r"commodity must be text \(str\), got int 5"),
        ({"commodity": "  "}, r"commodity is empty"),
        ({"data_item": 5}, r"data_item must be text \(str\), got int 5"),
    ],
)
def test_read_quickstats_options_of_the_wrong_type(yields_csv: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_quickstats(yields_csv, **kwargs)


@pytest.mark.parametrize("bad", [None, 123, b"yields.csv", ""])
@pytest.mark.parametrize("func", [read_quickstats, load_dataset, read_manifest])
def test_path_arguments_of_the_wrong_type(func, bad: object) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match=r"path (must be a path \(str or os\.PathLike\), got|is an empty path)"):
        func(bad)


def test_ingest_and_build_arguments_of_the_wrong_type(tmp_path: Path, manifest: Path, yields_csv: Path) -> None:
    with pytest.raises(InputError, match=r"manifest_path must be a path \(str or os\.PathLike\), got NoneType None"):
        ingest_manifest(None, tmp_path / "c.nc", progress=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"grid must be a geoapp\.data\.grid\.Grid or None, got str 'abc'"):
        ingest_manifest(manifest, tmp_path / "c.nc", grid="abc", progress=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"title must be text \(str\), got int 5"):
        ingest_manifest(manifest, tmp_path / "c.nc", title=5, progress=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"yields must be a path \(str or os\.PathLike\), got int 7"):
        build_real_dataset(manifest, 7, tmp_path / "out", progress=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"commodity must be text \(str\), got NoneType None"):
        build_real_dataset(manifest, yields_csv, tmp_path / "out", commodity=None, progress=False)  # type: ignore[arg-type]
    assert not (tmp_path / "c.nc").exists() and not (tmp_path / "out").exists()


# ---- 2. grids too large or too small, refused before anything is allocated ----------------------------------
@pytest.mark.parametrize(
    ("resolution_m", "match"),
    [
        (True, r"resolution_m\) must be a number of metres, got bool True"),
        (1e-300, r"would have .* pixels, more than the 200,000,000 geoapp allows .* expected a resolution of"),
        (1.0, r"would have .* pixels, more than the 200,000,000"),
        (1e12, r"fewer than the 16 across that one tile needs; expected a resolution of"),
    ],
)
def test_ingest_refuses_absurd_grids_before_reading(tmp_path: Path, manifest: Path, resolution_m: float, match: str) -> None:
    with pytest.raises(InputError, match=match):
        ingest_manifest(manifest, tmp_path / "c.nc", resolution_m=resolution_m, progress=False)
    assert not (tmp_path / "c.nc").exists()


def test_grid_covering_checks_its_size() -> None:
    with pytest.raises(InputError, match=r"must be a number of metres, got bool True"):
        Grid.covering((0.0, 0.0, 1e6, 1e6), True)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"1e\+06 x 1e\+06 pixels, more than"):
        Grid.covering((0.0, 0.0, 1e6, 1e6), 1.0)
    with pytest.raises(InputError, match=r"1 x 1 pixels, fewer than the 8"):
        Grid.covering((0.0, 0.0, 1e6, 1e6), 1e7, min_side_px=8)
    assert Grid.covering((0.0, 0.0, 1e6, 1e6), 1e4, min_side_px=8).shape == (100, 100)


@pytest.mark.parametrize("value", ["1e9", "1e-300", "0.01", "500"])
def test_cli_resolution_km_has_a_range(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["data", "ingest", "--manifest", "m.csv", "--out", str(tmp_path / "c.nc"), "--resolution-km", value])
    assert exc.value.code == 2
    assert f"argument --resolution-km: '{value}' km is outside 0.1-100 km" in capsys.readouterr().err


# ---- 3. a missing folder, a file, a folder that is not a dataset -------------------------------------------
def test_dataset_path_says_what_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MissingDataError, match=r"dataset folder '.*nope' does not exist; build"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "afile.txt").write_text("x")
    with pytest.raises(DataFileError, match=r"afile\.txt' is a file, not a dataset folder"):
        load_dataset(tmp_path / "afile.txt")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("x")
    with pytest.raises(DataFileError, match=r"folder '.*docs' is not a geoapp dataset \(it holds none of"):
        load_dataset(tmp_path / "docs")
    assert main(["data", "info", "--path", str(tmp_path / "afile.txt")]) == 2
    assert "is a file, not a dataset folder" in _one_error_line(capsys)
    assert main(["data", "info", "--path", str(tmp_path / "nope")]) == 2
    assert "does not exist" in _one_error_line(capsys)


# ---- 4. damaged tables --------------------------------------------------------------------------
def _extra_field(path: Path) -> None:
    lines = path.read_text().splitlines()
    lines[2] += ",surplus"
    path.write_text("\n".join(lines) + "\n")


DAMAGE = [
    ("counties.csv", lambda p: p.write_text(""), r"counties\.csv is empty \(no header, no rows\)"),
    ("yields.csv", lambda p: p.write_text(""), r"yields\.csv is empty"),
    ("yields.csv", _extra_field, r"yields\.csv is not a well-formed CSV table \(.*line 3"),
    ("counties.csv", lambda p: p.write_bytes(p.read_text().encode("utf-16")), r"counties\.csv is not UTF-8 text"),
    ("yields.csv", lambda p: p.write_bytes(b"geoid,year,yield,labelled\n19001,2012,\xe9,True\n"), r"yields\.csv is not UTF-8"),
]


@pytest.mark.parametrize(("name", "damage", "match"), DAMAGE, ids=["empty-counties", "empty-yields", "extra", "utf16", "latin1"])
def test_damaged_tables_are_named_with_a_rebuild_hint(ds: Path, name: str, damage, match: str) -> None:  # noqa: ANN001
    damage(ds / name)
    with pytest.raises(DataFileError, match=rf"dataset '.*ds': {match}.*; rebuild it with"):
        load_dataset(ds)


def test_cube_replaced_by_a_folder(ds: Path) -> None:
    (ds / "cube.nc").unlink()
    (ds / "cube.nc").mkdir()
    with pytest.raises(DataFileError, match=r"'cube\.nc' is a folder where a file was expected; rebuild it with"):
        load_dataset(ds)


# ---- 5. absurd yields and tiles -----------------------------------------------------------------------
def _set_first_yield(ds: Path, value: str) -> None:
    """Write ``value`` into the yield cell of yields.csv's line 2."""
    lines = (ds / "yields.csv").read_text().splitlines()
    column = lines[0].split(",").index("yield")
    cells = lines[1].split(",")
    cells[column] = value
    lines[1] = ",".join(cells)
    (ds / "yields.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("value", ["1000000000000", "-151.9", "1001"])
def test_absurd_yields_are_refused_with_their_row(ds: Path, value: str) -> None:
    _set_first_yield(ds, value)
    match = r"yields\.csv', line 2, column 'yield': .* is not a plausible county yield \(-100\.\.1000"
    with pytest.raises(DataFileError, match=match):
        load_dataset(ds)


def test_simulated_negative_yields_stay_accepted(ds: Path) -> None:
    _set_first_yield(ds, "-9.4")
    dataset = load_dataset(ds)
    assert dataset.yields["yield"].iloc[0] == pytest.approx(-9.4)
    dataset.close()


def test_tile_larger_than_the_grid_is_refused(ds: Path) -> None:
    card = json.loads((ds / "dataset.json").read_text())
    card["tile_px"] = 1_000_000
    (ds / "dataset.json").write_text(json.dumps(card))
    with pytest.raises(DataFileError, match=r"'tile_px' 1000000 is larger than the grid \(\d+ x \d+ pixels\)"):
        load_dataset(ds)


# ---- 6. a Quick Stats file whose rows are all withheld ---------------------------------------------------
def test_all_withheld_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "withheld.csv"
    path.write_text(quickstats_csv([row(2020 + i, "IOWA", "19", "ADAIR", "001", " (D)") for i in range(3)]))
    with pytest.raises(InputError, match=r"no county yield left to read for 'SOYBEANS' \(rows dropped: 3 withheld\)"):
        read_quickstats(path)


# ---- 7. the plausible range is named for the command line too ----------------------------------------------
def test_implausible_yield_names_the_cli_flag(tmp_path: Path) -> None:
    path = tmp_path / "y.csv"
    path.write_text(quickstats_csv([row(2020, "IOWA", "19", "ADAIR", "001", "151")]))
    with pytest.raises(InputError, match=r"plausible_range=\(lo, hi\) \(on the command line, --plausible-yield LO,HI\)"):
        read_quickstats(path)


# ---- 8. folders where files belong; a dataset's own cube -------------------------------------------------
def test_manifest_folders_are_named(tmp_path: Path, manifest: Path) -> None:
    with pytest.raises(DataFileError, match=r"manifest '.*' is a folder; give the manifest CSV file"):
        ingest_manifest(tmp_path, tmp_path / "c.nc", progress=False)
    (tmp_path / "rasters").mkdir()
    write_manifest(tmp_path / "m2.csv", [("ndvi", 2017, 7, "rasters")])
    with pytest.raises(DataFileError, match=r"line 2: raster path .rasters. is a folder"):
        read_manifest(tmp_path / "m2.csv")


def test_ingest_refuses_a_datasets_cube(ds: Path, manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (ds / "cube.nc").read_bytes()
    rc = main(["data", "ingest", "--manifest", str(manifest), "--out", str(ds / "cube.nc")])
    assert rc == 2
    assert "belongs to the dataset in" in _one_error_line(capsys)
    assert (ds / "cube.nc").read_bytes() == before


def test_api_client_and_cropland_arguments_of_the_wrong_type(tmp_path):
    from geoapp.data.cropland import county_crop_centres, parse_crop_codes
    from geoapp.data.nass_api import fetch_county_yields, parse_states

    with pytest.raises(InputError, match="commodity must be text"):
        fetch_county_yields(None, ["IA"], (2017, 2018), tmp_path / "y.csv", key="k")
    with pytest.raises(InputError, match="out must be"):
        fetch_county_yields("SOYBEANS", ["IA"], (2017, 2018), None, key="k")
    with pytest.raises(InputError, match="states must be text such as 'IA,IL'"):
        parse_states(5)
    with pytest.raises(InputError, match="states must be text"):
        parse_states(["IA", 7])
    with pytest.raises(InputError, match="crop codes must be text such as '12,14'"):
        parse_crop_codes(12)
    with pytest.raises(InputError, match="cropland must be"):
        county_crop_centres(None, None, None)
    with pytest.raises(InputError, match="grid must be a geoapp.data.grid.Grid"):
        county_crop_centres(tmp_path / "lc.tif", None, "abc")


# ---- 9. encoders, galleries, counties, API options and build flags of the wrong type ---------------------
BAD = [None, 5, b"x", [1], {}, True, 1.5]
"""Values of the wrong type for an argument that takes an object, a number or a flag."""


class _Encoder:
    """Stands in for a location model: every input is refused before an embedding is computed."""

    fingerprint = "probe"

    def __init__(self) -> None:
        from geoapp.training.location_trainer import LocationTrainConfig

        self.config = LocationTrainConfig()

    def embed_locations(self, lat, lon):  # noqa: ANN001  # pragma: no cover - never reached
        raise AssertionError("the input should have been refused first")

    embed_images = embed_locations


def _gallery():  # noqa: ANN202
    from geoapp.data.galleries import Gallery

    return Gallery("probe", np.array([[0.0, 0.0], [10.0, 10.0]]), "two points")


@pytest.mark.parametrize("bad", BAD)
def test_similarity_refuses_an_encoder_or_gallery_of_the_wrong_type(bad: object) -> None:
    from geoapp.analysis.location import gallery_embeddings, similarity

    with pytest.raises(InputError, match=rf"encoder must be a location encoder .*got {type(bad).__name__} "):
        similarity(0.0, 0.0, bad, _gallery())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=rf"gallery must be a geoapp\.data\.galleries\.Gallery .*got {type(bad).__name__} "):
        similarity(0.0, 0.0, _Encoder(), bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"encoder must be a location encoder"):
        gallery_embeddings(bad, _gallery())  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b for b in BAD if b is not None])
def test_geolocate_refuses_a_model_or_gallery_of_the_wrong_type(bad: object) -> None:
    from geoapp.analysis.location import geolocate

    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(InputError, match=rf"model must be a LoadedLocationModel .*or None .*got {type(bad).__name__} "):
        geolocate(image, top_k=1, model=bad, gallery=_gallery())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=rf"gallery must be a geoapp\.data\.galleries\.Gallery .*got {type(bad).__name__} "):
        geolocate(image, top_k=1, model=_Encoder(), gallery=bad)  # type: ignore[arg-type]


def test_an_object_without_a_config_is_not_a_model() -> None:
    from geoapp.analysis.location import geolocate

    class NoConfig:
        fingerprint = "x"

        def embed_locations(self, lat, lon):  # noqa: ANN001  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(InputError, match=r"model must be a LoadedLocationModel"):
        geolocate(np.zeros((32, 32, 3), np.uint8), top_k=1, model=NoConfig(), gallery=_gallery())  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", BAD)
def test_county_functions_refuse_counties_of_the_wrong_type(tmp_path: Path, bad: object) -> None:
    from geoapp.data.cropland import county_anchors, county_crop_centres

    match = rf"counties must be a GeoDataFrame of county polygons with 'geoid'.*got {type(bad).__name__} "
    with pytest.raises(InputError, match=match):
        county_crop_centres(tmp_path / "lc.tif", bad, iowa_grid())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"counties must be a GeoDataFrame"):
        county_anchors(bad, iowa_grid(), 4)  # type: ignore[arg-type]


def test_counties_without_geoid_or_geometry_are_refused(tmp_path: Path) -> None:
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    from geoapp.data.cropland import county_anchors, county_crop_centres

    no_geoid = gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    with pytest.raises(InputError, match=r"counties lack the column\(s\) \['geoid'\]"):
        county_crop_centres(tmp_path / "lc.tif", no_geoid, iowa_grid())
    no_geometry = gpd.GeoDataFrame(pd.DataFrame({"geoid": ["19001"]}))
    with pytest.raises(InputError, match=r"counties lack the column\(s\) \['geometry'\]"):
        county_crop_centres(tmp_path / "lc.tif", no_geometry, iowa_grid())
    no_crs = gpd.GeoDataFrame({"geoid": ["19001"]}, geometry=[box(0, 0, 1, 1)])
    with pytest.raises(InputError, match=r"counties have no CRS"):
        county_crop_centres(tmp_path / "lc.tif", no_crs, iowa_grid())
    counties = gpd.GeoDataFrame(
        {"geoid": ["19001"], "name": ["Adair"], "state": ["IA"]}, geometry=[box(-94.5, 41.2, -94.2, 41.5)], crs="EPSG:4326"
    )
    for bad in (True, 1.5, "4", None):
        with pytest.raises(InputError, match=r"tile_px must be a whole number"):
            county_anchors(counties, iowa_grid(), bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"centres must be None or the DataFrame county_crop_centres\(\) returns"):
        county_anchors(counties, iowa_grid(), 4, centres=[1])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"grid must be a geoapp\.data\.grid\.Grid"):
        county_anchors(counties, None, 4)  # type: ignore[arg-type]


def _fetch(tmp_path: Path, **kwargs: object) -> None:
    from geoapp.data.nass_api import fetch_county_yields

    options = {"key": "k", "base_url": "http://127.0.0.1:9/", "retries": 0, "sleep": lambda s: None, **kwargs}
    fetch_county_yields("SOYBEANS", ["IA"], (2017, 2018), tmp_path / "y.csv", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b for b in BAD if b is not None])
def test_fetch_refuses_a_key_or_base_url_of_the_wrong_type(tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError, match=rf"key must be text \(str\) or None to read NASS_API_KEY, got {type(bad).__name__}$"):
        _fetch(tmp_path, key=bad)
    with pytest.raises(InputError, match=rf"base_url must be text \(str\) such as .*got {type(bad).__name__} "):
        _fetch(tmp_path, base_url=bad)
    assert not (tmp_path / "y.csv").exists()


def test_a_refused_key_of_the_wrong_type_is_not_shown(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        _fetch(tmp_path, key=b"secret-key")
    assert "secret-key" not in str(info.value)


_WHOLE = [None, b"x", [1], {}, True, 1.5]
_SECONDS = [None, b"x", [1], {}, True, "5"]


@pytest.mark.parametrize(
    ("option", "expected", "bad"),
    [("row_limit", "a whole number", b) for b in _WHOLE]
    + [("retries", "a whole number", b) for b in _WHOLE]
    + [("timeout_s", "a number of seconds", b) for b in _SECONDS],
)
def test_fetch_refuses_numbers_of_the_wrong_type(tmp_path: Path, option: str, expected: str, bad: object) -> None:
    with pytest.raises(InputError, match=rf"{option} must be {expected}, got {type(bad).__name__} "):
        _fetch(tmp_path, **{option: bad})


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("retries", -1, r"retries=-1.*expected retries >= 0"),
        ("row_limit", 0, r"row_limit=0: expected a positive number of rows"),
        ("timeout_s", 0, r"timeout_s must be a positive number of seconds, got 0"),
        ("backoff_s", -1.0, r"backoff_s must be a non-negative number of seconds, got -1.0"),
        ("backoff_s", "1", r"backoff_s must be a number of seconds, got str '1'"),
        ("sleep", 5, r"sleep must be a function of seconds"),
    ],
)
def test_fetch_refuses_numbers_out_of_range(tmp_path: Path, option: str, value: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        _fetch(tmp_path, **{option: value})


@pytest.mark.parametrize("bad", [5, True, 1.5, b"x", {"IA": 1}, [19], ["IA", None]])
def test_build_refuses_states_of_the_wrong_type(tmp_path: Path, manifest: Path, yields_csv: Path, bad: object) -> None:
    with pytest.raises(InputError, match=r"states must be (text such as 'IA,IL'|two-letter postal codes \(text\))"):
        build_real_dataset(manifest, yields_csv, tmp_path / "out", states=bad, progress=False)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", [None, b"x", [1], {"a": 1}, 1.5, 5, 1, "no", np.int64(1)])
@pytest.mark.parametrize("flag", ["force", "progress"])
def test_build_flags_must_be_bools(ds: Path, manifest: Path, yields_csv: Path, flag: str, bad: object) -> None:
    before = (ds / "dataset.json").read_bytes()
    kwargs = {"force": False, "progress": False, flag: bad}
    with pytest.raises(InputError, match=rf"{flag} must be True or False \(a bool\), got {type(bad).__name__} "):
        build_real_dataset(manifest, yields_csv, ds, **kwargs)  # type: ignore[arg-type]
    assert (ds / "dataset.json").read_bytes() == before  # the dataset is kept, not replaced


def test_a_tile_larger_than_any_grid_says_so() -> None:
    from geoapp.data.study_area import study_area_grid

    # build_real_dataset(..., resolution_km=8, tile_px=10**6) asks for this grid
    match = r"no resolution fits, since a tile of 1000000 px is larger than the grid can be over this area \(at most [\d,]+ px"
    with pytest.raises(InputError, match=match):
        study_area_grid(8000.0, ["IA"], min_side_px=10**6)
    with pytest.raises(InputError, match=r"use a smaller tile") as info:
        Grid.covering((0.0, 0.0, 100_000.0, 100_000.0), 8000.0, min_side_px=10**6)
    assert "expected a resolution of" not in str(info.value)
    with pytest.raises(InputError, match=r"fewer than the 16 across that one tile needs; expected a resolution of"):
        Grid.covering((0.0, 0.0, 100_000.0, 100_000.0), 1e7, min_side_px=16)


@pytest.mark.parametrize(
    ("func", "value", "match"),
    [
        ("as_bool", 1, r"x must be True or False \(a bool\), got int 1"),
        ("as_bool", np.bool_(True), None),
        ("as_int", True, r"x must be a whole number, got bool True"),
        ("as_int", 2.0, r"x must be a whole number, got float 2.0"),
        ("as_int", np.int32(3), None),
    ],
)
def test_flag_and_count_helpers(func: str, value: object, match: str | None) -> None:
    from geoapp.data import args

    if match is None:
        assert getattr(args, func)(value, "x") == value
    else:
        with pytest.raises(InputError, match=match):
            getattr(args, func)(value, "x")
    with pytest.raises(InputError, match=r"n must be a whole number of at least 0, got -1"):
        args.as_int(-1, "n", minimum=0)
