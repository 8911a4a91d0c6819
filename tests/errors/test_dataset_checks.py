"""Datasets opened safely (issue 17): the card and tables are checked on opening, the files against the card's
fingerprint before training or evaluation.

A bad value names the file, the row (its line) and the column; a replaced ``cube.nc`` no longer passes
for the data the card describes: ``data info`` shows it and ``train yield`` / ``evaluate yield`` refuse it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from geoapp import cli
from geoapp.data import fingerprint as fingerprint_mod
from geoapp.data.cube import open_cube, save_cube
from geoapp.data.dataset import CARD, load_dataset
from geoapp.data.fingerprint import SIDECAR
from geoapp.errors import DataFileError, DatasetChangedError
from tests.app.real_standin import make_real_standin


@pytest.fixture
def copy(tiny_dataset_path, tmp_path) -> Path:
    """A private copy of the tiny simulated dataset (without the check cache other tests may have left in it)."""
    folder = Path(shutil.copytree(tiny_dataset_path, tmp_path / "ds"))
    (folder / SIDECAR).unlink(missing_ok=True)
    return folder


def _edit_card(folder: Path, **changes) -> None:
    card = json.loads((folder / CARD).read_text())
    for key, value in changes.items():
        if value is ...:
            card.pop(key, None)
        else:
            card[key] = value
    (folder / CARD).write_text(json.dumps(card))


def _edit_csv(folder: Path, name: str, row: int, column: str, value: str) -> None:
    """Set one cell (``row`` counts data rows from 0) as text, leaving every other cell as written."""
    df = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
    df.loc[row, column] = value
    df.to_csv(folder / name, index=False)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


# ---- the card -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"tile_px": "abc"}, r"'tile_px' must be a positive whole number of pixels, got 'abc'"),
        ({"tile_px": 0}, r"'tile_px' must be a positive whole number of pixels, got 0"),
        ({"tile_px": True}, r"'tile_px' must be a positive whole number of pixels, got True"),
        ({"tile_px": 8.5}, r"'tile_px' must be a positive whole number of pixels, got 8.5"),
        ({"years": ["2012", 2013]}, r"'years' must hold whole years 1900-2100, got '2012'"),
        ({"years": [12]}, r"'years' must hold whole years 1900-2100, got 12"),
        ({"years": "2012-2016"}, r"'years' must be a non-empty list of years"),
        ({"grid": {"grid_crs": "EPSG:5070"}}, r"'grid' is not a valid grid description"),
        ({"grid": "EPSG:5070"}, r"'grid' must be an object of grid attributes"),
        ({"fingerprint": ...}, r"lacks a 'fingerprint'"),
        ({"fingerprint": 12}, r"lacks a 'fingerprint' \(a text hash of the data\), got 12"),
        ({"simulated": "yes"}, r"'simulated' must be true or false, got 'yes'"),
    ],
)
def test_a_bad_card_names_the_file_and_the_field(copy, changes, match):
    _edit_card(copy, **changes)
    with pytest.raises(DataFileError, match=rf"'{copy / CARD}'.*{match}"):
        load_dataset(copy)


@pytest.mark.parametrize("text", ["[1, 2]", "null", '"a dataset"'])
def test_a_card_that_is_not_an_object(copy, text):
    (copy / CARD).write_text(text)
    with pytest.raises(DataFileError, match=r"dataset.json' is not a JSON object"):
        load_dataset(copy)


def test_data_info_on_a_card_with_tile_px_abc_is_one_line(copy, capsys):
    _edit_card(copy, tile_px="abc")
    assert cli.main(["data", "info", "--path", str(copy)]) == 2
    line = _one_error_line(capsys)
    assert f"'{copy / CARD}': 'tile_px' must be a positive whole number of pixels, got 'abc'" in line
    assert "rebuild the dataset" in line


# ---- the tables ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("yield", "abc", r"line 5, column 'yield': 'abc' is not a number"),
        ("yield", "inf", r"line 5, column 'yield': 'inf' is not a finite number of bu/acre"),
        ("year", "20x6", r"line 5, column 'year': '20x6' is not a number"),
        ("year", "", r"line 5, column 'year': an empty \(or NA\) cell where a value is required"),
        ("year", "2012.5", r"line 5, column 'year': '2012.5' is not a whole year"),
        ("year", "1850", r"line 5, column 'year': '1850' is not a year in 1900-2100"),
        ("year", "2030", r"line 5, column 'year': '2030' is not a year of the cube \[2012, 2013, 2014, 2015, 2016\]"),
        ("labelled", "maybe", r"line 5, column 'labelled': 'maybe' is not True or False"),
        ("geoid", "1915", r"line 5, column 'geoid': '1915' is not a 5-digit county code"),
        ("geoid", "99999", r"line 5, column 'geoid': '99999' is not a county of counties.csv"),
    ],
)
def test_a_bad_yields_cell_names_the_file_the_row_and_the_column(copy, column, value, match):
    _edit_csv(copy, "yields.csv", 3, column, value)
    with pytest.raises(DataFileError, match=rf"'{copy / 'yields.csv'}', {match}"):
        load_dataset(copy)


def test_a_labelled_row_without_a_yield_is_refused(copy):
    df = pd.read_csv(copy / "yields.csv", dtype={"geoid": str})
    row = int(df.index[df["labelled"]][2])
    _edit_csv(copy, "yields.csv", row, "yield", "")
    needs = r"an empty \(or NA\) cell on a labelled row: a row with labelled = True needs a yield"
    with pytest.raises(DataFileError, match=rf"line {row + 2}, column 'yield': {needs}"):
        load_dataset(copy)


def test_a_second_row_for_the_same_county_and_year_is_refused(copy):
    df = pd.read_csv(copy / "yields.csv", dtype=str, keep_default_na=False)
    pd.concat([df, df.iloc[[0]]]).to_csv(copy / "yields.csv", index=False)
    with pytest.raises(DataFileError, match=rf"line {len(df) + 2}, column 'geoid': '\d{{5}}' has a second row for the same year"):
        load_dataset(copy)


def test_several_bad_cells_are_counted(copy):
    df = pd.read_csv(copy / "yields.csv", dtype=str, keep_default_na=False)
    df.loc[[3, 7, 9], "yield"] = "n.a."
    df.to_csv(copy / "yields.csv", index=False)
    with pytest.raises(DataFileError, match=r"line 5, column 'yield': 'n.a.' is not a number \(and 2 more row\(s\) like it\)"):
        load_dataset(copy)


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("anchor_row", "x", r"line 3, column 'anchor_row': 'x' is not a number"),
        ("anchor_row", "2.5", r"line 3, column 'anchor_row': '2.5' is not a whole pixel index"),
        ("anchor_col", "100000", r"line 3, column 'anchor_col': '100000' is outside the grid \(0\.\.\d+\)"),
        ("anchor_row", "-1", r"line 3, column 'anchor_row': '-1' is outside the grid"),
        ("anchor_lat", "95", r"line 3, column 'anchor_lat': '95' is not a coordinate in -90..90 degrees"),
        ("geoid", "17001", r"line 3, column 'geoid': '17001' appears twice \(one row per county\)"),
    ],
)
def test_a_bad_counties_cell_names_the_file_the_row_and_the_column(copy, column, value, match):
    first = pd.read_csv(copy / "counties.csv", dtype=str)["geoid"].iloc[0]
    _edit_csv(copy, "counties.csv", 1, column, value if value != "17001" else first)
    with pytest.raises(DataFileError, match=rf"'{copy / 'counties.csv'}', {match}"):
        load_dataset(copy)


def test_data_info_on_a_yield_abc_is_one_line(copy, capsys):
    _edit_csv(copy, "yields.csv", 0, "yield", "abc")
    assert cli.main(["data", "info", "--path", str(copy)]) == 2
    line = _one_error_line(capsys)
    assert f"'{copy / 'yields.csv'}', line 2, column 'yield': 'abc' is not a number" in line


def test_a_valid_dataset_keeps_its_types(copy):
    ds = load_dataset(copy)
    try:
        assert ds.yields["year"].dtype == "int64" and ds.yields["yield"].dtype == "float64"
        assert ds.yields["labelled"].dtype == bool and ds.counties["anchor_row"].dtype == "int64"
    finally:
        ds.close()


# ---- missing datasets ---------------------------------------------------------------------------------


def test_data_info_on_a_missing_paper_dataset_suggests_building_the_paper_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path))
    assert cli.main(["data", "info", "--config", "paper"]) == 2
    line = _one_error_line(capsys)
    assert line == (
        f"error: dataset folder '{tmp_path / 'corn_belt_sim_paper'}' does not exist; "
        "build it with `python -m geoapp data build --config paper`"
    )
    assert cli.main(["data", "info"]) == 2
    assert _one_error_line(capsys).endswith("build it with `python -m geoapp data build`")


# ---- fingerprints recomputed from the files ---------------------------------------------------------


def _replace_cube(folder: Path) -> None:
    """Put another cube in place of ``cube.nc`` (same layout, other values): the card is not told."""
    cube = open_cube(folder / "cube.nc", load=True)
    cube["ndvi"].values[...] = cube["ndvi"].values * 0.5
    save_cube(cube, folder / "cube.nc")


def test_a_replaced_cube_no_longer_passes_for_the_card(copy, capsys):
    ds = load_dataset(copy)
    assert ds.verify_fingerprint() == ds.fingerprint and ds.check_files().ok
    ds.close()
    _replace_cube(copy)
    ds = load_dataset(copy)  # opening for display still works, with the card's fingerprint
    try:
        assert ds.fingerprint == json.loads((copy / CARD).read_text())["fingerprint"]
        assert ds.check_files().changed == ("cube.nc",)
        with pytest.raises(DatasetChangedError, match=r"the files changed since its card was written \(cube.nc no longer match"):
            ds.verify_fingerprint()
        with pytest.raises(DatasetChangedError, match=rf"rebuild it with `python -m geoapp data build --out {copy} --force`"):
            ds.verify_fingerprint()
    finally:
        ds.close()
    assert cli.main(["data", "info", "--path", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "CHANGED since the card was written (cube.nc): training and evaluation refuse it" in out
    assert cli.main(["data", "info", "--path", str(copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"].startswith("CHANGED")


def test_training_and_evaluation_refuse_a_changed_dataset(copy, capsys, tmp_path):
    _edit_csv(copy, "yields.csv", 0, "yield", "123.456")
    for argv in (
        ["train", "yield", "--dataset", str(copy), "--out", str(tmp_path / "run"), "--quiet"],
        ["train", "yield", "--model", "ridge", "--dataset", str(copy), "--test-year", "2016", "--n-train-years", "3"],
        ["evaluate", "yield", "--checkpoint", str(tmp_path / "no-such-run"), "--dataset", str(copy)],
    ):
        assert cli.main(argv) == 2
        line = _one_error_line(capsys)
        assert "the files changed since its card was written (yields.csv no longer match" in line
    assert not (tmp_path / "run").exists()


def test_the_verdict_is_cached_until_a_file_changes(copy, monkeypatch):
    ds = load_dataset(copy)
    try:
        assert ds.check_files().ok and (copy / SIDECAR).is_file()

        def no_hashing(folder):
            raise AssertionError("the files did not change: the cached verdict serves")

        monkeypatch.setattr(fingerprint_mod, "content_hashes", no_hashing)
        assert ds.check_files().ok
        monkeypatch.undo()
        counties = copy / "counties.csv"
        stat = counties.stat()
        os.utime(counties, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched: read again
        calls = []
        real = fingerprint_mod.content_hashes
        monkeypatch.setattr(fingerprint_mod, "content_hashes", lambda folder: calls.append(folder) or real(folder))
        assert ds.check_files().ok and len(calls) == 1
    finally:
        ds.close()


def test_a_read_only_folder_goes_without_the_cache(copy, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fingerprint_mod, "atomic_write_text", refuse)
    ds = load_dataset(copy)
    try:
        assert ds.verify_fingerprint() and not (copy / SIDECAR).exists()
    finally:
        ds.close()


def test_a_card_without_file_hashes_is_checked_by_its_fingerprint(copy):
    _edit_card(copy, file_sha256=...)
    ds = load_dataset(copy)
    try:
        assert ds.check_files().ok
        _replace_cube(copy)
        assert not ds.check_files().ok and ds.check_files().changed == ()
        with pytest.raises(DatasetChangedError, match=r"one of cube.nc, counties.csv, yields.csv no longer match"):
            ds.verify_fingerprint()
    finally:
        ds.close()


def test_a_real_dataset_names_the_file_that_changed(real_dataset_path, tmp_path):
    real = Path(shutil.copytree(real_dataset_path, tmp_path / "real"))
    card = json.loads((real / CARD).read_text())
    assert sorted(card["file_sha256"]) == ["counties.csv", "cube.nc", "yields.csv"]
    ds = load_dataset(real)
    try:
        assert ds.verify_fingerprint() == card["fingerprint"]
        _edit_csv(real, "yields.csv", 0, "labelled", "False")
        _edit_csv(real, "yields.csv", 0, "yield", "")
        with pytest.raises(DatasetChangedError, match=r"\(yields.csv no longer match .*from your files with `python -m geoapp"):
            ds.verify_fingerprint()
    finally:
        ds.close()


def test_a_real_dataset_built_before_file_hashes_is_recomputed_from_its_content(real_dataset_path, tmp_path):
    real = Path(shutil.copytree(real_dataset_path, tmp_path / "real"))
    _edit_card(real, file_sha256=...)
    ds = load_dataset(real)
    try:
        assert ds.check_files().ok  # build settings, sources and the cube's values give the card's fingerprint
        _replace_cube(real)
        assert not ds.check_files().ok
    finally:
        ds.close()


def test_the_app_tests_real_stand_in_passes(tiny_dataset_path, tmp_path):
    ds = load_dataset(make_real_standin(tiny_dataset_path, tmp_path / "standin"))
    try:
        assert ds.simulated is False and ds.verify_fingerprint()
    finally:
        ds.close()


def test_yields_with_only_a_header_are_refused(tiny_dataset_path, tmp_path):
    import shutil

    from geoapp.data.dataset import load_dataset
    from geoapp.errors import DataFileError

    copy = shutil.copytree(tiny_dataset_path, tmp_path / "header_only")
    header = (copy / "yields.csv").read_text().splitlines()[0]
    (copy / "yields.csv").write_text(header + "\n")
    with pytest.raises(DataFileError, match=r"yields.csv' holds no rows \(only a header\)"):
        load_dataset(copy)
