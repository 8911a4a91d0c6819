"""Tests for geoapp.data.noise_free: a simulated dataset copied with its noise-free yields as labels."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from geoapp import cli
from geoapp.data.dataset import load_dataset
from geoapp.data.noise_free import NOISE_FREE_SUFFIX, write_noise_free_copy
from geoapp.errors import InputError


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
    assert (out / "cube.nc").read_bytes() == (tiny_dataset_path / "cube.nc").read_bytes()


def test_real_dataset_is_refused_with_the_reason(real_dataset_path, tmp_path):
    with pytest.raises(InputError, match="is not simulated"):
        write_noise_free_copy(real_dataset_path, tmp_path / "nf")
    assert not (tmp_path / "nf").exists()


def test_existing_copy_needs_force_and_the_source_is_never_overwritten(tiny_dataset_path, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(tiny_dataset_path, src)
    out = write_noise_free_copy(src, tmp_path / "nf")
    with pytest.raises(InputError, match="force"):
        write_noise_free_copy(src, out)
    assert write_noise_free_copy(src, out, force=True) == out
    before = (src / "yields.csv").read_bytes()
    with pytest.raises(InputError, match="source dataset itself"):
        write_noise_free_copy(src, src, force=True)
    assert (src / "yields.csv").read_bytes() == before


def test_folder_of_other_files_is_refused(tiny_dataset_path, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError):
        write_noise_free_copy(tiny_dataset_path, tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_writes_the_copy_and_says_it_is_simulated(tiny_dataset_path, tmp_path, capsys):
    assert cli.main(["data", "noise-free", "--path", str(tiny_dataset_path), "--out", str(tmp_path / "nf")]) == 0
    assert "SIMULATED" in capsys.readouterr().out
    assert load_dataset(tmp_path / "nf").card["name"].endswith(NOISE_FREE_SUFFIX)
    assert cli.main(["data", "noise-free", "--path", str(tiny_dataset_path), "--out", str(tmp_path / "nf")]) == 2
    assert "force" in capsys.readouterr().err
