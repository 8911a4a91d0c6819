"""Tests for geoapp.data.dataset: saving and loading dataset folders, errors, atomic replacement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geoapp.data import dataset as dataset_mod
from geoapp.data.bands import BANDS
from geoapp.data.dataset import (
    CARD,
    YieldDataset,
    default_dataset_path,
    ensure_default_dataset,
    list_datasets,
    load_dataset,
    save_simulated,
)
from geoapp.data.fingerprint import SIDECAR
from geoapp.errors import DataFileError, InputError, MissingDataError
from tests.conftest import TINY


@pytest.fixture
def ds(tiny_dataset_path):
    d = load_dataset(tiny_dataset_path)
    yield d
    d.close()


def copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_folder_layout(tiny_dataset_path):
    names = sorted(p.name for p in tiny_dataset_path.iterdir() if p.name != SIDECAR)  # the check cache may be there
    assert names == ["counties.csv", "cube.nc", "dataset.json", "truth.json", "yields.csv"]
    # no temporary folders beside it
    assert [p.name for p in tiny_dataset_path.parent.iterdir()] == [tiny_dataset_path.name]


def test_round_trip(ds, tiny_sim, tiny_dataset_path):
    assert isinstance(ds, YieldDataset)
    assert ds.root == tiny_dataset_path and ds.name == "corn_belt_sim_tiny"
    assert ds.simulated is True and ds.card["simulated"] is True
    assert ds.card["name"] == "corn_belt_sim_tiny"
    assert ds.card["simulation_config"]["states"] == list(TINY.states)
    assert ds.years == [2012, 2013, 2014, 2015, 2016] == ds.card["years"]
    assert ds.tile_px == 8
    assert ds.grid.shape == tiny_sim.cube["ndvi"].shape[-2:]
    assert ds.card["grid"] == ds.grid.to_attrs()
    assert ds.card["n_counties"] == 201
    assert ds.card["labelled_rows"] == int(tiny_sim.yields["labelled"].sum())
    assert ds.truth is not None and ds.truth["noise_floor_rmse_bu"] == pytest.approx(tiny_sim.truth["noise_floor_rmse_bu"])
    # JSON turns the month keys into strings
    assert set(ds.truth["critical_months"]["water"]) == {"3", "4", "5", "6", "7", "8", "9"}


def test_round_trip_tables(ds, tiny_sim):
    assert ds.counties["geoid"].map(type).eq(str).all() and ds.yields["geoid"].map(type).eq(str).all()
    assert ds.counties["geoid"].tolist() == tiny_sim.counties["geoid"].tolist()
    np.testing.assert_array_equal(ds.counties["anchor_row"], tiny_sim.counties["anchor_row"])
    assert ds.yields["labelled"].dtype == bool
    np.testing.assert_array_equal(ds.yields["labelled"], tiny_sim.yields["labelled"])
    # yields are written with 3 decimals
    np.testing.assert_allclose(ds.yields["yield"], tiny_sim.yields["yield"], atol=5e-4, equal_nan=True)
    np.testing.assert_allclose(ds.yields["expected"], tiny_sim.yields["expected"], atol=5e-4)


def test_round_trip_cube(ds, tiny_sim):
    for b in BANDS:
        assert ds.cube[b].dtype == np.float32
    sel = {"year": 2016, "month": 8}
    np.testing.assert_allclose(ds.cube["ndvi"].sel(sel).values, tiny_sim.cube["ndvi"].sel(sel).values, atol=5.1e-5)
    np.testing.assert_allclose(ds.cube["ppt"].sel(sel).values, tiny_sim.cube["ppt"].sel(sel).values, atol=0.026)
    assert int(ds.cube.attrs["simulated"]) == 1


def test_fingerprint(tiny_dataset_path):
    a, b = load_dataset(tiny_dataset_path), load_dataset(tiny_dataset_path)
    try:
        assert len(a.fingerprint) == 16 and int(a.fingerprint, 16) >= 0
        assert a.fingerprint == b.fingerprint
        # it is the hash of the files' content
        assert dataset_mod._fingerprint(tiny_dataset_path) == a.fingerprint
    finally:
        a.close()
        b.close()


def test_title_flags_simulated_data(ds, tmp_path, tiny_dataset_path):
    assert ds.card["title"] == "Simulated Corn Belt (tiny, 8 km)"
    assert "simulated" in ds.title.lower()
    # a simulated dataset whose card title does not say so gets " (simulated)" appended
    copy = copy_dataset(tiny_dataset_path, tmp_path / "plain")
    card = json.loads((copy / CARD).read_text())
    card["title"] = "Corn Belt"
    (copy / CARD).write_text(json.dumps(card))
    d = load_dataset(copy)
    try:
        assert d.title == "Corn Belt (simulated)"
    finally:
        d.close()
    # real data: title unchanged; a card without a title falls back to the folder name
    card["simulated"] = False
    del card["title"]
    (copy / CARD).write_text(json.dumps(card))
    d = load_dataset(copy)
    try:
        assert d.simulated is False and d.title == "plain"
    finally:
        d.close()


def test_year_yields_and_county_label(ds):
    s = ds.year_yields(2013)
    lab = ds.yields[(ds.yields["year"] == 2013) & ds.yields["labelled"]]
    assert s.name == "yield 2013"
    assert s.index.tolist() == lab["geoid"].tolist()
    np.testing.assert_array_equal(s.to_numpy(), lab["yield"].to_numpy())
    assert s.notna().all() and len(s) == ds.truth["labelled_per_year"]["2013"]
    assert ds.year_yields("2013").equals(s)
    assert len(ds.labelled()) == int(ds.yields["labelled"].sum())
    assert (ds.labelled(2014)["year"] == 2014).all()
    assert ds.county_label("19153") == "Polk, IA"
    assert ds.county_label("17031") == "Cook, IL"
    assert ds.county_label("99999") == "99999"


def test_geoids_keep_leading_zeros(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "zeros")
    for name in ("counties.csv", "yields.csv"):
        text = (copy / name).read_text()
        assert "\n17001," in text
        (copy / name).write_text(text.replace("\n17001,", "\n01001,"))
    d = load_dataset(copy)
    try:
        assert "01001" in d.counties["geoid"].tolist()
        assert (d.yields["geoid"] == "01001").sum() == len(d.years)
        assert d.county_label("01001") == "Adams, IL"
        assert d.counties["geoid"].str.len().eq(5).all() and d.yields["geoid"].str.len().eq(5).all()
    finally:
        d.close()


# ---- errors -----------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(MissingDataError, match=r"dataset folder '.*absent' does not exist; build the embedded one with"):
        load_dataset(tmp_path / "absent")
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "absent")


@pytest.mark.parametrize("name", ["yields.csv", "counties.csv", "cube.nc"])
def test_folder_missing_a_file(tiny_dataset_path, tmp_path, name):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "broken")
    (copy / name).unlink()
    rebuild = r"rebuild it with `python -m geoapp data build --out .*broken --force`"
    with pytest.raises(DataFileError, match=rf"lacks \['{name}'\]; {rebuild}"):
        load_dataset(copy)


def test_folder_missing_its_card(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "broken")
    (copy / CARD).unlink()
    with pytest.raises(DataFileError, match=r"lacks \['dataset.json'\], so it is not a complete geoapp dataset; move the folder"):
        load_dataset(copy)


def test_garbled_card(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "garbled")
    (copy / CARD).write_text('{"name": "x", "tile_px": ')
    with pytest.raises(DataFileError, match=r"has a garbled or empty file"):
        load_dataset(copy)
    (copy / CARD).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataFileError, match=r"has a garbled or empty file"):
        load_dataset(copy)


def test_garbled_truth(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "garbled")
    (copy / "truth.json").write_text("{not json")
    with pytest.raises(DataFileError, match=r"has a garbled or empty file"):
        load_dataset(copy)


def test_truth_is_optional(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "real")
    (copy / "truth.json").unlink()
    d = load_dataset(copy)
    try:
        assert d.truth is None
    finally:
        d.close()


def test_card_without_tile_px(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "notile")
    card = json.loads((copy / CARD).read_text())
    del card["tile_px"]
    (copy / CARD).write_text(json.dumps(card))
    with pytest.raises(DataFileError, match=r"dataset\.json' lacks 'tile_px'"):
        load_dataset(copy)


def test_yields_without_a_column(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "nolabel")
    df = pd.read_csv(copy / "yields.csv", dtype={"geoid": str}).drop(columns="labelled")
    df.to_csv(copy / "yields.csv", index=False)
    with pytest.raises(DataFileError, match=r"yields\.csv' lacks column 'labelled'"):
        load_dataset(copy)


def test_garbled_cube(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "badcube")
    (copy / "cube.nc").write_bytes(b"\x89HDF garbage" * 100)
    with pytest.raises(DataFileError, match=r"cannot read cube"):
        load_dataset(copy)


# ---- saving -----------------------------------------------------------------------------------


def test_save_replaces_existing_dataset_atomically(tiny_sim, tmp_path):
    target = tmp_path / "ds"
    assert save_simulated(tiny_sim, target) == target
    (target / "truth.json").write_text("{}")  # a file of the old dataset: replaced
    save_simulated(tiny_sim, target)
    assert json.loads((target / "truth.json").read_text())
    assert sorted(p.name for p in target.iterdir()) == ["counties.csv", "cube.nc", "dataset.json", "truth.json", "yields.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no .ds.tmp-* or .ds.old-* left
    d = load_dataset(target)
    try:
        assert d.fingerprint == dataset_mod._fingerprint(target)
    finally:
        d.close()


def test_failed_save_leaves_old_dataset(tiny_sim, tmp_path, monkeypatch):
    target = tmp_path / "ds"
    save_simulated(tiny_sim, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken_save_cube(ds, path):
        Path(path).write_bytes(b"half a cube")
        raise OSError("disk full")

    monkeypatch.setattr(dataset_mod, "save_cube", broken_save_cube)
    with pytest.raises(OSError, match=r"disk full"):
        save_simulated(tiny_sim, target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_list_datasets(tiny_dataset_path, tmp_path, monkeypatch):
    root = tmp_path / "root"
    good = copy_dataset(tiny_dataset_path, root / "b_good")
    copy_dataset(tiny_dataset_path, root / ".hidden")
    (root / "a_no_card").mkdir()
    (root / "a_no_card" / "cube.nc").write_bytes(b"")
    (root / "file.txt").write_text("x")
    assert list_datasets(root) == [good]
    assert list_datasets(tmp_path / "absent") == []
    assert list_datasets(tiny_dataset_path.parent) == [tiny_dataset_path]
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(root))
    assert list_datasets() == [good]


def test_default_dataset_path(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path))
    assert default_dataset_path() == tmp_path / "corn_belt_sim_demo"
    assert default_dataset_path("paper") == tmp_path / "corn_belt_sim_paper"
    with pytest.raises(InputError, match=r"unknown dataset configuration 'nope'; expected one of \['demo', 'paper'\]"):
        default_dataset_path("nope")


def test_ensure_default_dataset_does_not_rebuild(tiny_dataset_path, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path))
    copy_dataset(tiny_dataset_path, tmp_path / "corn_belt_sim_demo")

    def no_build(*args, **kwargs):
        raise AssertionError("must not rebuild an existing dataset")

    monkeypatch.setattr(dataset_mod, "build_default_dataset", no_build)
    assert ensure_default_dataset("demo") == tmp_path / "corn_belt_sim_demo"
    with pytest.raises(InputError, match=r"unknown dataset configuration"):
        ensure_default_dataset("nope")


# ---- edge cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["yields.csv", "counties.csv"])
def test_empty_csv_is_data_file_error(tiny_dataset_path, tmp_path, name):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "empty")
    (copy / name).write_bytes(b"")
    with pytest.raises(DataFileError):
        load_dataset(copy)


def test_card_not_an_object_is_data_file_error(tiny_dataset_path, tmp_path):
    copy = copy_dataset(tiny_dataset_path, tmp_path / "nullcard")
    (copy / CARD).write_text("null")
    with pytest.raises(DataFileError):
        load_dataset(copy)


def test_simulated_title_says_simulated(ds):
    assert "simulated" in ds.title.lower()
