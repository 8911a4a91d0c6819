"""Tests for geoapp.data.noise_free: a simulated dataset copied with its noise-free yields as labels."""

from __future__ import annotations

import errno
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from geoapp import cli
from geoapp.data import noise_free
from geoapp.data.dataset import load_dataset, rebuild_hint
from geoapp.data.noise_free import NOISE_FREE_SUFFIX, write_noise_free_copy
from geoapp.errors import DataFileError, DatasetChangedError, InputError


def _own_source(tiny_dataset_path, tmp_path):
    """A copy of the tiny simulated dataset that a test may change, at ``tmp_path/src``."""
    src = tmp_path / "src"
    shutil.copytree(tiny_dataset_path, src)
    return src


def test_copy_has_the_noise_free_yields_as_labels_and_its_own_fingerprint(tiny_dataset_path, tmp_path):
    out = write_noise_free_copy(tiny_dataset_path, tmp_path / "nf")
    src, copy = load_dataset(tiny_dataset_path), load_dataset(out)
    assert copy.verify_fingerprint() != src.fingerprint  # the copy's files, checked against its own card
    # the same counties and labelled county-years; each label is the source's noise-free value
    pd.testing.assert_frame_equal(copy.counties, src.counties)
    assert (copy.yields["labelled"] == src.yields["labelled"]).all()
    labelled = src.yields["yield"].notna().to_numpy()
    np.testing.assert_array_equal(copy.yields["yield"].notna().to_numpy(), labelled)
    np.testing.assert_allclose(copy.yields["yield"][labelled], src.yields["expected"][labelled], atol=5e-4)
    assert np.abs(src.yields["yield"][labelled] - src.yields["expected"][labelled]).max() > 1.0  # the source has noise
    # labelled as what it is; the cube is the source's (a link or a copy)
    assert copy.simulated and copy.card["name"].endswith(NOISE_FREE_SUFFIX)
    assert "noise-free labels" in copy.card["title"] and "not observed yields" in copy.card["description"]
    assert os.path.samefile(out / "cube.nc", tiny_dataset_path / "cube.nc")  # linked, not a second copy
    assert (out / "truth.json").read_bytes() == (tiny_dataset_path / "truth.json").read_bytes()
    np.testing.assert_allclose(copy.yields["expected"], src.yields["expected"], atol=5e-4)
    assert copy.card["noise_free_of"] == {
        "name": src.card["name"],
        "path": str(tiny_dataset_path.resolve()),
        "fingerprint": src.fingerprint,
    }
    assert "data noise-free --path" in rebuild_hint(out, copy.card)  # never "data build", which would bring the noise back
    # a copy of the copy keeps one suffix
    again = load_dataset(write_noise_free_copy(out, tmp_path / "nf2"))
    assert again.card["name"] == copy.card["name"] and again.card["title"] == copy.card["title"]


def test_real_dataset_is_refused_with_the_reason(real_dataset_path, tmp_path):
    with pytest.raises(InputError, match="is not simulated"):
        write_noise_free_copy(real_dataset_path, tmp_path / "nf")
    assert not (tmp_path / "nf").exists()


def test_existing_copy_needs_force_and_the_source_is_never_overwritten(tiny_dataset_path, tmp_path):
    src = _own_source(tiny_dataset_path, tmp_path)
    out = write_noise_free_copy(src, tmp_path / "nf")
    with pytest.raises(InputError, match="force"):
        write_noise_free_copy(src, out)
    assert write_noise_free_copy(src, out, force=True) == out
    before = (src / "yields.csv").read_bytes()
    with pytest.raises(InputError, match="is the source dataset"):
        write_noise_free_copy(src, src, force=True)
    assert (src / "yields.csv").read_bytes() == before


def test_folder_of_other_files_is_refused(tiny_dataset_path, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="other files|not a geoapp dataset|holds"):
        write_noise_free_copy(tiny_dataset_path, tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_writes_the_copy_and_says_it_is_simulated(tiny_dataset_path, tmp_path, capsys):
    assert cli.main(["data", "noise-free", "--path", str(tiny_dataset_path), "--out", str(tmp_path / "nf")]) == 0
    assert "SIMULATED" in capsys.readouterr().out
    assert load_dataset(tmp_path / "nf").card["name"].endswith(NOISE_FREE_SUFFIX)
    assert cli.main(["data", "noise-free", "--path", str(tiny_dataset_path), "--out", str(tmp_path / "nf")]) == 2
    assert "force" in capsys.readouterr().err


def test_source_whose_files_changed_is_refused(tiny_dataset_path, tmp_path):
    src = _own_source(tiny_dataset_path, tmp_path)
    with open(src / "yields.csv", "a") as f:
        f.write("\n")
    with pytest.raises(DatasetChangedError, match="changed since its card was written"):
        write_noise_free_copy(src, tmp_path / "nf")
    assert not (tmp_path / "nf").exists()


def test_source_without_noise_free_yields_names_the_column(tiny_dataset_path, tmp_path, monkeypatch):
    real_load = noise_free.load_dataset

    def without_expected(path):
        ds = real_load(path)
        ds.yields = ds.yields.drop(columns=["expected"])
        return ds

    monkeypatch.setattr(noise_free, "load_dataset", without_expected)
    with pytest.raises(DataFileError, match="no 'expected' column"):
        write_noise_free_copy(tiny_dataset_path, tmp_path / "nf")
    assert not (tmp_path / "nf").exists()


def test_out_inside_the_source_is_refused(tiny_dataset_path, tmp_path):
    src = _own_source(tiny_dataset_path, tmp_path)
    with pytest.raises(InputError, match="inside it"):
        write_noise_free_copy(src, src / "nf")
    assert not (src / "nf").exists()


def test_symlinked_cube_is_followed_and_a_failed_link_copies(tiny_dataset_path, tmp_path, monkeypatch):
    src = _own_source(tiny_dataset_path, tmp_path)
    shutil.move(src / "cube.nc", tmp_path / "shared_cube.nc")
    os.symlink("../shared_cube.nc", src / "cube.nc")
    out = write_noise_free_copy(src, tmp_path / "deeper" / "nf")
    assert not (out / "cube.nc").is_symlink() and os.path.samefile(out / "cube.nc", tmp_path / "shared_cube.nc")
    load_dataset(out).verify_fingerprint()

    def no_links(*args, **kwargs):
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    out2 = write_noise_free_copy(src, tmp_path / "nf_copied")
    assert not os.path.samefile(out2 / "cube.nc", tmp_path / "shared_cube.nc")
    load_dataset(out2).verify_fingerprint()


def test_failed_write_leaves_no_folder(tiny_dataset_path, tmp_path, monkeypatch):
    def broken(folder):
        raise OSError("disk went away")

    monkeypatch.setattr(noise_free, "content_hashes", broken)
    with pytest.raises(OSError, match="disk went away"):
        write_noise_free_copy(tiny_dataset_path, tmp_path / "nf")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
