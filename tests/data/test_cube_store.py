"""Tests for geoapp.data.cube_store: the chunked writer, reads that touch only a tile's chunks, damaged files."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

from geoapp.bench.cube_chunks import read_bytes
from geoapp.data.bands import BANDS, DYNAMIC_BANDS, MONTHS, STATIC_BANDS
from geoapp.data.cube import empty_cube, open_cube, save_cube
from geoapp.data.cube_store import FILL_VALUE, PACKING, CubeWriter, pack, read_slab
from geoapp.data.grid import Grid
from geoapp.errors import DataFileError, InputError

YEARS = [2015, 2016]


@pytest.fixture(scope="module")
def grid() -> Grid:
    """A 256 x 256 px grid at 4 km in EPSG:5070."""
    return Grid("EPSG:5070", 4000.0, 0.0, 1_800_000.0, 1_024_000.0, 2_824_000.0)


def noisy_cube(grid: Grid, seed: int = 0) -> xr.Dataset:
    """A cube of incompressible noise in each band's plausible range, with a few NaN pixels."""
    rng = np.random.default_rng(seed)
    ds = empty_cube(grid, YEARS, "noise", simulated=True)
    for band in BANDS:
        scale, offset = PACKING[band]
        lo, hi = offset - 30000 * scale, offset + 30000 * scale
        values = rng.uniform(lo, hi, ds[band].shape).astype(np.float32)
        values.reshape(-1)[::997] = np.nan
        ds[band].values[...] = values
    return ds


def test_writer_layout_and_lazy_dask_open(grid, tmp_path):
    path = save_cube(noisy_cube(grid), tmp_path / "cube.nc", chunk_px=32)
    cube = open_cube(path)
    assert cube["ndvi"].encoding["chunksizes"] == (1, 1, 32, 32)
    assert cube["sand"].encoding["chunksizes"] == (32, 32)
    assert cube["ndvi"].encoding["dtype"] == np.int16 and cube["ndvi"].encoding["zlib"]
    assert cube["ndvi"].chunks is not None  # dask-backed: nothing read yet
    assert cube["ndvi"].data.chunksize == (1, 1, 256, 256)  # one dask chunk per (year, month) slot
    cube.close()


def test_pack_gives_the_integers_xarray_writes(grid, tmp_path):
    ds = noisy_cube(grid, seed=1)
    band = "ppt"
    scale, offset = PACKING[band]
    encoding = {"dtype": "int16", "scale_factor": np.float32(scale), "add_offset": np.float32(offset), "_FillValue": FILL_VALUE}
    ds[[band]].to_netcdf(tmp_path / "xr.nc", engine="netcdf4", encoding={band: encoding})
    with xr.open_dataset(tmp_path / "xr.nc", mask_and_scale=False) as ref:
        np.testing.assert_array_equal(pack(ds[band].values, band), ref[band].values)


def test_values_round_trip_and_static_bands(grid, tmp_path):
    ds = noisy_cube(grid, seed=2)
    back = open_cube(save_cube(ds, tmp_path / "cube.nc", chunk_px=48), load=True)
    for band in BANDS:
        scale = PACKING[band][0]
        np.testing.assert_allclose(back[band].values, ds[band].values, atol=0.51 * scale, equal_nan=True)


def test_an_unfinished_writer_leaves_no_file(grid, tmp_path):
    path = tmp_path / "cube.nc"
    with pytest.raises(DataFileError, match=r"was not finished: \d+ slot\(s\) never written \(first: sand\)"):
        with CubeWriter(path, grid, YEARS, "t", simulated=True) as w:
            w.write_static("elevation", np.zeros(grid.shape, np.float32))
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="boom"):
        with CubeWriter(path, grid, YEARS, "t", simulated=True) as w:
            raise RuntimeError("boom")
    assert not list(tmp_path.iterdir())


def test_writer_refuses_bad_slots(grid, tmp_path):
    with CubeWriter(tmp_path / "c.nc", grid, YEARS, "t", simulated=True, require_all=False) as w:
        with pytest.raises(InputError, match=r"band 'ndvi' is not static"):
            w.write_static("ndvi", np.zeros(grid.shape))
        with pytest.raises(InputError, match=r"year 2000 is not a year of this cube \(2015..2016\)"):
            w.write_year("ndvi", 2000, np.zeros((len(MONTHS), *grid.shape)))
        with pytest.raises(InputError, match=r"values have shape \(3, 3\); expected \(256, 256\)"):
            w.write_slot("ndvi", 2015, 7, np.zeros((3, 3)))
        with pytest.raises(InputError, match=r"band 'lst_day' in 2015-07 spans 400..400 degC, outside the storable"):
            w.write_slot("lst_day", 2015, 7, np.full(grid.shape, 400.0))
        w.write_slot("ndvi", 2015, 7, np.full(grid.shape, 0.5))
    cube = open_cube(tmp_path / "c.nc")
    assert float(cube["ndvi"].sel(year=2015, month=7).mean()) == pytest.approx(0.5)
    assert np.isnan(cube["ndvi"].sel(year=2015, month=6).values).all()  # never written: missing


def _tile_read_bytes(path, r0: int, c0: int, tile: int) -> int:
    """Bytes read from disk for one tile (all months of one band) of a freshly opened cube."""
    with open_cube(path, chunks=None) as cube:
        read_slab(cube["ndvi"], year=1, y=slice(200, 200 + tile), x=slice(200, 200 + tile))  # metadata, another chunk
        before = read_bytes()
        tile_values = read_slab(cube["ndvi"], year=0, y=slice(r0, r0 + tile), x=slice(c0, c0 + tile))
        used = read_bytes() - before
    assert tile_values.shape == (len(MONTHS), tile, tile)
    return used


@pytest.mark.skipif(read_bytes() < 0, reason="needs /proc/self/io (Linux)")
def test_a_tile_read_touches_only_the_chunks_under_it(grid, tmp_path):
    ds = noisy_cube(grid, seed=3)
    chunked = save_cube(ds, tmp_path / "chunked.nc", chunk_px=32)
    whole = save_cube(ds, tmp_path / "whole.nc", chunk_px=256)  # one chunk per slot, as cubes were stored before
    raw_chunk = 32 * 32 * 2  # bytes of one int16 chunk (noise does not compress)
    inside = _tile_read_bytes(chunked, 40, 40, 16)  # rows and cols 40..55: one chunk per month
    straddling = _tile_read_bytes(chunked, 56, 56, 16)  # rows and cols 56..71: four chunks per month
    full = _tile_read_bytes(whole, 40, 40, 16)
    months = len(MONTHS)
    index_reads = 32_768  # the chunk index (B-tree nodes) looked up on the way
    assert months * raw_chunk * 0.8 <= inside <= months * raw_chunk * 1.2 + index_reads
    assert months * 3 * raw_chunk * 0.8 <= straddling - inside <= months * 3 * raw_chunk * 1.3  # three more chunks a month
    assert full >= months * 256 * 256 * 2 * 0.8  # the whole grid of every month
    assert full > 20 * inside


def _corrupt_middle(path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 256] = bytes(range(256))
    path.write_bytes(bytes(data))


def test_a_damaged_chunk_is_an_error_naming_the_variable_and_chunk(grid, tmp_path):
    path = save_cube(noisy_cube(grid, seed=4), tmp_path / "cube.nc", chunk_px=64)
    _corrupt_middle(path)
    cube = open_cube(path)  # the metadata is intact
    with pytest.raises(DataFileError) as caught:
        for band in DYNAMIC_BANDS:
            for k in range(len(YEARS)):
                read_slab(cube[band], year=k)
        for band in STATIC_BANDS:
            read_slab(cube[band])
    message = str(caught.value)
    assert str(path) in message
    assert re.search(r"variable '(\w+)' chunk \((year \d{4}, month \d, )?rows \d+\.\.\d+, cols \d+\.\.\d+\)", message), message
    assert "the file is damaged" in message and "rebuild" in message
    cube.close()


def _disk_nearly_full(monkeypatch) -> None:
    """HDF5 reports a full disk as a RuntimeError; with almost no space left geoapp takes it for what it is."""
    import shutil

    from geoapp import fileio

    monkeypatch.setattr(fileio.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096))


def test_a_full_disk_while_writing_keeps_the_previous_cube(grid, tmp_path, monkeypatch):
    from geoapp.data import cube_store
    from geoapp.errors import DiskFullError

    ds = noisy_cube(grid, seed=5)
    path = save_cube(ds, tmp_path / "cube.nc")
    before = path.read_bytes()
    calls = []

    def failing_pack(values, band):
        calls.append(band)
        if len(calls) == 3:
            raise RuntimeError("NetCDF: HDF error")
        return pack(values, band)

    monkeypatch.setattr(cube_store, "pack", failing_pack)
    _disk_nearly_full(monkeypatch)
    with pytest.raises(DiskFullError, match=r"no space left on device while writing '.*cube.nc'"):
        save_cube(ds, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["cube.nc"]


def test_a_full_disk_during_a_simulated_build_keeps_the_previous_dataset(tmp_path, monkeypatch):
    from geoapp.data import cube_store
    from geoapp.data.dataset import build_default_dataset
    from geoapp.errors import DiskFullError
    from tests.conftest import TINY

    out = build_default_dataset(TINY, progress=False, out_dir=tmp_path / "ds")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def full(self, *args, **kwargs):
        raise RuntimeError("NetCDF: HDF error")

    monkeypatch.setattr(cube_store.CubeWriter, "write_year", full)
    _disk_nearly_full(monkeypatch)
    with pytest.raises(DiskFullError, match=r"no space left on device while writing '.*ds': free space"):
        build_default_dataset(TINY, progress=False, out_dir=out, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]
