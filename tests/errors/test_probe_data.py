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
