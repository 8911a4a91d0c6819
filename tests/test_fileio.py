"""Tests for geoapp.fileio: atomic replacement of files."""

from __future__ import annotations

import pytest

from geoapp.fileio import atomic_path, atomic_write_text


def test_atomic_path_replaces_target_on_success(tmp_path):
    target = tmp_path / "out.nc"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        assert tmp.suffix == ".nc"  # writers pick the format from the suffix
        assert tmp.name.startswith(".out.nc.tmp-")
        assert not tmp.exists()  # the writer creates it
        tmp.write_text("new")
        assert target.read_text() == "old"  # not replaced before the block ends
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]


def test_atomic_path_exception_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match=r"writer failed"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_atomic_path_exception_without_previous_file(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyError("x")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_creates_parent_folders_and_custom_suffix(tmp_path):
    target = tmp_path / "a" / "b" / "data.json"
    with atomic_path(target, suffix=".part") as tmp:
        assert tmp.suffix == ".part" and tmp.parent == target.parent
        tmp.write_bytes(b"{}")
    assert target.read_bytes() == b"{}"
    assert [p.name for p in target.parent.iterdir()] == ["data.json"]


def test_atomic_write_text(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "héllo ✓\n")
    assert target.read_bytes() == "héllo ✓\n".encode()
    atomic_write_text(str(target), "second")
    assert target.read_text(encoding="utf-8") == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_folder_as_the_file_to_write_is_refused_naming_it(tmp_path):
    from geoapp.errors import DataFileError

    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DataFileError, match=rf"'{tmp_path}' is a folder; give the path of a file to write"):
        atomic_write_text(tmp_path, "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]  # nothing written, no temporary left
