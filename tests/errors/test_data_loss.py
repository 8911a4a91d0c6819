"""No data loss: an output folder of the user's is never replaced, a killed build's leftovers are cleaned, a full disk
leaves the previous output intact (issue 17).

``data build`` (simulated and real) checks its ``--out`` before any work: a folder holding anything but
a geoapp dataset is refused even with ``--force``, ``--out .`` at once. ``data ingest`` checks its
``--out`` and resolution before reading a raster. Temporaries carry their owner's pid, so the next
write of the same target removes those of dead processes and never one of a live process.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from geoapp import cli, fileio
from geoapp.data import cube_store
from geoapp.data import dataset as dataset_mod
from geoapp.data.dataset import CARD, check_output_folder, load_dataset, save_simulated
from geoapp.data.ingest import ingest_manifest
from geoapp.errors import DataFileError, DiskFullError, InputError, OutputExistsError
from geoapp.fileio import atomic_folder, atomic_path, remove_stale_temporaries
from geoapp.paths import REPO_ROOT
from tests.conftest import TINY
from tests.fixtures.rasters import from_origin, iowa_grid, write_geotiff, write_manifest

FULL = r"no space left on device while writing '.*{name}': free space or choose another --out"


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _tmp_name(target: str, pid: int, host: str = fileio._HOST, rest: str = "-x1y2z3") -> str:
    return f".{target}.tmp-{pid}-{host}{rest}"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def quick_simulation(monkeypatch):
    """``data build`` without --manifest simulates the tiny dataset (a second) instead of the demo one."""
    calls = []
    write = dataset_mod.write_simulation

    def write_simulation(config, cube_path, **kwargs):
        calls.append(config)
        return write(TINY, cube_path, progress=False)

    monkeypatch.setattr(dataset_mod, "write_simulation", write_simulation)
    return calls


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail if the simulation starts: the output must be refused before any work."""

    def write_simulation(*args, **kwargs):
        raise AssertionError("the output folder must be checked before the simulation runs")

    monkeypatch.setattr(dataset_mod, "write_simulation", write_simulation)


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# ---- data build: a user's folder is never replaced --------------------------------------------------


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_data_build_refuses_a_folder_of_the_users_files(tmp_path, capsys, no_simulation, force):
    mine = tmp_path / "Documents"
    mine.mkdir()
    (mine / "thesis.docx").write_text("keep me")
    (mine / "photos").mkdir()
    assert cli.main(["data", "build", "--out", str(mine), "--quiet", *force]) == 2
    line = _error_line(capsys)
    assert "holds no dataset.json, so it is not a geoapp dataset" in line and "'thesis.docx'" in line
    assert "choose a new folder" in line
    assert (mine / "thesis.docx").read_text() == "keep me" and (mine / "photos").is_dir()


def test_data_build_with_force_refuses_a_dataset_folder_holding_other_files(tiny_dataset_path, tmp_path, capsys, no_simulation):
    ds = Path(shutil.copytree(tiny_dataset_path, tmp_path / "ds"))
    (ds / "notes.txt").write_text("my notes")
    before = _snapshot(ds)
    assert cli.main(["data", "build", "--out", str(ds), "--force", "--quiet"]) == 2
    line = _error_line(capsys)
    assert "also holds files geoapp did not write ('notes.txt')" in line and "move them out first" in line
    assert _snapshot(ds) == before


def test_data_build_with_force_replaces_a_dataset_folder(tiny_dataset_path, tmp_path, capsys, quick_simulation):
    ds = Path(shutil.copytree(tiny_dataset_path, tmp_path / "ds"))
    (ds / ".DS_Store").write_bytes(b"finder")  # file-browser litter does not block a rebuild
    (ds / "truth.json").write_text("{}")
    assert cli.main(["data", "build", "--out", str(ds), "--quiet"]) == 0  # without --force: kept, as before
    assert "exists; use --force to rebuild" in capsys.readouterr().out and (ds / "truth.json").read_text() == "{}"
    assert cli.main(["data", "build", "--out", str(ds), "--force", "--quiet"]) == 0
    assert "built Simulated Corn Belt (tiny, 8 km)" in capsys.readouterr().out
    assert json.loads((ds / "truth.json").read_text()) and load_dataset(ds).verify_fingerprint()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_data_build_into_an_empty_folder(tmp_path, capsys, quick_simulation):
    (tmp_path / "new").mkdir()
    assert cli.main(["data", "build", "--out", str(tmp_path / "new"), "--quiet"]) == 0
    assert (tmp_path / "new" / CARD).is_file()


@pytest.mark.parametrize("out", [".", "..", "./"])
def test_data_build_out_dot_is_refused_at_once(tmp_path, monkeypatch, capsys, no_simulation, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.csv").write_text("a,b\n")
    assert cli.main(["data", "build", "--out", out, "--quiet"]) == 2
    line = _error_line(capsys)
    assert "is the current folder (or a folder above it)" in line and "give a new folder" in line
    assert (tmp_path / "my.csv").read_text() == "a,b\n"


def test_data_build_out_a_file_is_refused(tmp_path, capsys, no_simulation):
    (tmp_path / "x.nc").write_text("mine")
    assert cli.main(["data", "build", "--out", str(tmp_path / "x.nc"), "--force", "--quiet"]) == 2
    assert "exists and is a file" in _error_line(capsys)
    assert (tmp_path / "x.nc").read_text() == "mine"


def test_real_build_refuses_a_users_folder_from_the_command_line(real_download, tmp_path, capsys):
    mine = tmp_path / "downloads"
    mine.mkdir()
    (mine / "MOD13A3.hdf").write_bytes(b"raw")
    argv = ["data", "build", "--manifest", str(real_download["manifest"]), "--yields", str(real_download["yields"])]
    assert cli.main([*argv, "--out", str(mine), "--force", "--quiet"]) == 2
    assert "holds no dataset.json, so it is not a geoapp dataset" in _error_line(capsys)
    assert (mine / "MOD13A3.hdf").read_bytes() == b"raw"
    assert cli.main([*argv, "--out", ".", "--quiet"]) == 2
    assert "is the current folder" in _error_line(capsys)


def test_unwritable_output_folder_is_refused_before_the_simulation(tmp_path, capsys, monkeypatch, no_simulation):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root writes anywhere: make the probe see what a user would
            real_mkstemp = fileio.tempfile.mkstemp

            def mkstemp(*args, dir=None, **kwargs):  # noqa: A002
                if Path(dir) == locked:
                    raise PermissionError(errno.EACCES, "Permission denied", str(locked))
                return real_mkstemp(*args, dir=dir, **kwargs)

            monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
        assert cli.main(["data", "build", "--out", str(locked / "ds"), "--quiet"]) == 2
        line = _error_line(capsys)
        assert f"cannot write to folder '{locked}' (Permission denied): choose another output location" in line
    finally:
        locked.chmod(0o755)


def test_check_output_folder_classes(tiny_dataset_path, tmp_path):
    assert check_output_folder(tmp_path / "new" / "deeper", force=False) is False
    with pytest.raises(OutputExistsError, match=r"already exists; pass force=True \(--force\)"):
        check_output_folder(tiny_dataset_path, force=False)
    assert check_output_folder(tiny_dataset_path, force=True) is True
    assert isinstance(OutputExistsError("x"), InputError)


# ---- a killed build's temporaries -----------------------------------------------------------------------


def test_stale_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "ds"
    dead, live = _dead_pid(), os.getppid()
    stale = tmp_path / _tmp_name("ds", dead)
    (stale / "cube.nc").parent.mkdir()
    (stale / "cube.nc").write_bytes(b"half")
    stale_file = tmp_path / _tmp_name("ds", dead, rest="-abc.nc")
    stale_file.write_bytes(b"half")
    kept = [
        tmp_path / _tmp_name("ds", live),  # a live process is still writing it
        tmp_path / _tmp_name("ds", dead, host="0badf00d"),  # another machine's, on a shared folder
        tmp_path / ".ds.tmp-abc123",  # an older geoapp's (no owner recorded)
        tmp_path / _tmp_name("dsx", dead),  # another target's
    ]
    for path in kept:
        path.mkdir()
    assert sorted(remove_stale_temporaries(target)) == sorted([stale, stale_file])
    assert sorted(p for p in tmp_path.iterdir()) == sorted(kept)


def test_an_old_version_left_between_two_renames_is_put_back_or_dropped(tmp_path):
    target = tmp_path / "ds"
    old = tmp_path / f".ds.old-{_dead_pid()}-{fileio._HOST}"
    old.mkdir()
    (old / "dataset.json").write_text("{}")
    assert remove_stale_temporaries(target) == [old]
    assert (target / "dataset.json").read_text() == "{}" and not old.exists()  # the kill left no target: restored
    old.mkdir()
    assert remove_stale_temporaries(target) == [old] and not old.exists()  # the new target is there: dropped
    assert (target / "dataset.json").is_file()


def test_atomic_writers_remove_stale_temporaries_first(tmp_path):
    stale_dir = tmp_path / _tmp_name("ds", _dead_pid())
    stale_dir.mkdir()
    with atomic_folder(tmp_path / "ds") as tmp:
        assert tmp.name.startswith(f".ds.tmp-{os.getpid()}-{fileio._HOST}-")
        (tmp / "a").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    stale_file = tmp_path / _tmp_name("cube.nc", _dead_pid(), rest="-q.nc")
    stale_file.write_bytes(b"half")
    with atomic_path(tmp_path / "cube.nc") as tmp:
        assert tmp.name.startswith(f".cube.nc.tmp-{os.getpid()}-{fileio._HOST}-")
        tmp.write_bytes(b"cube")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.nc", "ds"]


KILLED_BUILD = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from geoapp.data import dataset
from geoapp.data.simulate import simulate
from tests.conftest import TINY

def killed_while_writing(ds, path):
    open(path, "wb").write(b"half a cube")
    os.kill(os.getpid(), signal.SIGKILL)

dataset.save_cube = killed_while_writing
dataset.save_simulated(simulate(TINY, progress=False), {out!r})
"""


def test_a_build_killed_while_writing_is_cleaned_by_the_next_build(tmp_path, capsys, quick_simulation):
    out = tmp_path / "ds"
    code = textwrap.dedent(KILLED_BUILD).format(repo=str(REPO_ROOT), out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    leftovers = list(tmp_path.glob(".ds.tmp-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "cube.nc").read_bytes() == b"half a cube"
    assert cli.main(["data", "build", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert load_dataset(out).verify_fingerprint()


# ---- disk full ----------------------------------------------------------------------------------------


def _full_slot(writer, *args, **kwargs):
    """A cube writer's slot write on a full device."""
    raise OSError(errno.ENOSPC, "No space left on device")


def _full_writer(path, *args, **kwargs):
    Path(path).write_bytes(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_a_simulated_build_keeps_the_previous_dataset(tiny_dataset_path, tmp_path, capsys, quick_simulation):
    ds = Path(shutil.copytree(tiny_dataset_path, tmp_path / "ds"))
    before = _snapshot(ds)

    def full_while_hashing(folder):
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_cube(config, cube_path, **kwargs):
        _full_writer(cube_path)

    for writer, fake in (("write_simulation", full_cube), ("content_hashes", full_while_hashing)):  # first and last step
        original = getattr(dataset_mod, writer)
        setattr(dataset_mod, writer, fake)
        try:
            assert cli.main(["data", "build", "--out", str(ds), "--force", "--quiet"]) == 2
        finally:
            setattr(dataset_mod, writer, original)
        line = _error_line(capsys)
        assert f"no space left on device while writing '{ds}': free space or choose another --out" in line
        assert _snapshot(ds) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_disk_full_seen_by_the_netcdf_library_is_named_too(tiny_sim, tmp_path, monkeypatch):
    """HDF5 reports a full disk as a RuntimeError; with almost no space left it is taken for what it is."""
    save_simulated(tiny_sim, tmp_path / "ds")
    before = _snapshot(tmp_path / "ds")

    def hdf_error(self, *args, **kwargs):
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(cube_store.CubeWriter, "write_year", hdf_error)
    monkeypatch.setattr(fileio.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(DiskFullError, match=r"no space left on device while writing '.*ds'") as exc:
        save_simulated(tiny_sim, tmp_path / "ds")
    causes = [exc.value]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)
    assert exc.value.errno == errno.ENOSPC and isinstance(causes[-1], RuntimeError)
    assert _snapshot(tmp_path / "ds") == before and sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_disk_full_during_a_real_build_keeps_the_previous_dataset(real_build, real_download, tmp_path, monkeypatch):
    ds = Path(shutil.copytree(real_build[0], tmp_path / "real"))
    before = _snapshot(ds)
    monkeypatch.setattr(cube_store.CubeWriter, "write_slot", _full_slot)
    with pytest.raises(DiskFullError, match=r"no space left on device while writing '.*real'"):
        from geoapp.data.real_dataset import build_real_dataset

        build_real_dataset(real_download["manifest"], real_download["yields"], ds, force=True, progress=False, resolution_km=8.0)
    assert _snapshot(ds) == before and sorted(p.name for p in tmp_path.iterdir()) == ["real"]


def test_fsync_reporting_a_full_disk_is_not_ignored(tmp_path, monkeypatch):
    (tmp_path / "out.txt").write_text("old")

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    with pytest.raises(DiskFullError):
        fileio.atomic_write_text(tmp_path / "out.txt", "new")
    assert (tmp_path / "out.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


# ---- data ingest ----------------------------------------------------------------------------------------


def _manifest(folder: Path) -> Path:
    grid = iowa_grid()
    data = np.full((int((grid.ymax - grid.ymin) / 2000) + 8, int((grid.xmax - grid.xmin) / 2000) + 8), 0.5, np.float32)
    write_geotiff(folder / "ndvi.tif", data, from_origin(grid.xmin - 8000, grid.ymax + 8000, 2000, 2000), grid.crs)
    return write_manifest(folder / "m.csv", [("ndvi", 2017, 7, "ndvi.tif")])


@pytest.fixture
def no_raster_read(monkeypatch):
    import geoapp.data.ingest.build as build_mod

    def reproject(*args, **kwargs):
        raise AssertionError("the output must be checked before any raster is read")

    monkeypatch.setattr(build_mod, "reproject_raster", reproject)


def test_disk_full_during_ingest_leaves_the_previous_cube(tmp_path, monkeypatch):
    manifest = _manifest(tmp_path)
    ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    before = (tmp_path / "cube.nc").read_bytes()
    monkeypatch.setattr(cube_store.CubeWriter, "write_slot", _full_slot)
    with pytest.raises(DiskFullError, match=r"no space left on device while writing '.*cube.nc'"):
        ingest_manifest(manifest, tmp_path / "cube.nc", grid=iowa_grid(), progress=False)
    assert (tmp_path / "cube.nc").read_bytes() == before
    assert not list(tmp_path.glob(".cube.nc.tmp-*"))


def test_data_ingest_disk_full_from_the_command_line(tmp_path, capsys, monkeypatch):
    import geoapp.data.ingest as ingest_pkg

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ingest_pkg, "ingest_manifest", full)
    out = tmp_path / "cube.nc"
    assert cli.main(["data", "ingest", "--manifest", "m.csv", "--out", str(out)]) == 2
    assert _error_line(capsys) == f"error: no space left on device while writing '{out}': free space or choose another --out"


def test_data_ingest_out_an_existing_folder(tmp_path, capsys, no_raster_read):
    manifest = _manifest(tmp_path)
    assert cli.main(["data", "ingest", "--manifest", str(manifest), "--out", str(tmp_path)]) == 2
    assert f"output '{tmp_path}' is a folder; give the cube file to write, e.g. '{tmp_path / 'cube.nc'}'" in _error_line(capsys)


def test_data_ingest_never_replaces_a_file_that_is_not_a_cube(tmp_path, capsys, no_raster_read):
    manifest = _manifest(tmp_path)
    for victim in (tmp_path / "ndvi.tif", tmp_path / "notes.nc"):
        if not victim.exists():
            victim.write_text("my notes")
        before = victim.read_bytes()
        assert cli.main(["data", "ingest", "--manifest", str(manifest), "--out", str(victim)]) == 2
        assert "exists and is not a cube geoapp wrote; geoapp will not replace it" in _error_line(capsys)
        assert victim.read_bytes() == before


def test_data_ingest_unwritable_folder_is_refused_before_any_raster(tmp_path, monkeypatch, no_raster_read):
    manifest = _manifest(tmp_path)

    def refuse(*args, dir=None, **kwargs):  # noqa: A002
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)
    # the folder named is the nearest one that exists
    with pytest.raises(DataFileError, match=rf"cannot write to folder '{tmp_path}' \(Permission denied\)"):
        ingest_manifest(manifest, tmp_path / "ro" / "cube.nc", grid=iowa_grid(), progress=False)
    assert not (tmp_path / "ro").exists()


@pytest.mark.parametrize("value", ["0", "nan", "-4", "inf", "four"])
def test_data_ingest_resolution_must_be_a_positive_number(tmp_path, capsys, value, no_raster_read):
    with pytest.raises(SystemExit) as exc:
        cli.main(["data", "ingest", "--manifest", "m.csv", "--out", str(tmp_path / "c.nc"), "--resolution-km", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --resolution-km:" in err and ("must be a positive number of km" in err or "is not a number" in err)


@pytest.mark.parametrize("bad", [0.0, float("nan"), -4000.0])
def test_ingest_resolution_is_checked_before_any_raster(tmp_path, bad, no_raster_read):
    with pytest.raises(InputError, match=r"the grid resolution \(resolution_m\) must be a positive number of metres"):
        ingest_manifest(_manifest(tmp_path), tmp_path / "c.nc", resolution_m=bad, progress=False)
    assert not (tmp_path / "c.nc").exists()


def test_an_atomic_folder_reads_as_the_users_folders_do_not_0700(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_folder(tmp_path / "ds") as tmp:
            (tmp / "a").write_text("new")
        assert (tmp_path / "ds").stat().st_mode & 0o777 == 0o750  # the umask's, as mkdir would make it
        (tmp_path / "ds").chmod(0o555)  # read-only: still replaced whole (written while 0700), and kept read-only
        with atomic_folder(tmp_path / "ds") as tmp:
            assert tmp.stat().st_mode & 0o777 == 0o700
            (tmp / "a").write_text("newer")
        assert (tmp_path / "ds").stat().st_mode & 0o777 == 0o555 and (tmp_path / "ds" / "a").read_text() == "newer"
        (tmp_path / "ds").chmod(0o755)
    finally:
        os.umask(old)
