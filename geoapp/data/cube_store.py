"""The cube on disk: one NetCDF-4 file with tile-sized, compressed chunks, written slot by slot.

Every cube geoapp writes (the simulation, ``data build``, ``data ingest``) goes through
:class:`CubeWriter`, so no step holds the whole cube in memory: a writer takes one static band or one
(band, year) stack of months at a time, packs it to int16 (:data:`PACKING`) and writes it to a
temporary file beside the target; :meth:`CubeWriter.commit` renames the file into place only once
every slot was written, so a build killed half-way never leaves a file under the cube's name.

Layout (CF-1.8, read by xarray, GDAL and QGIS; see :mod:`geoapp.data.cube` for the variables): each
band is int16 with ``scale_factor``/``add_offset``, deflate level 1 with byte shuffle, in chunks of
one (year, month) and ``chunk_px`` x ``chunk_px`` pixels (:data:`DEFAULT_CHUNK_PX`). A tile read thus
decompresses only the chunks the tile overlaps (at most four per slot for a tile no larger than a
chunk), never the whole grid. Why NetCDF-4 rather than Zarr: one file that GDAL, QGIS and every
NetCDF tool open as they are, written atomically by one rename; Zarr's folder of chunk files would
need a GDAL built with its driver and a folder swap instead.

:func:`read_slab` reads a region and turns a damaged chunk into a :class:`~geoapp.errors.DataFileError`
naming the variable and the chunk (:func:`find_bad_chunk`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import netCDF4
import numpy as np
import xarray as xr
from xarray.backends.locks import HDF5_LOCK

from geoapp.data.args import as_int, given
from geoapp.data.bands import BAND_INFO, BANDS, DYNAMIC_BANDS, MONTHS, STATIC_BANDS
from geoapp.data.grid import Grid
from geoapp.errors import DataFileError, InputError
from geoapp.fileio import atomic_path

__all__ = [
    "PACKING",
    "FILL_VALUE",
    "DEFAULT_CHUNK_PX",
    "CubeWriter",
    "pack",
    "check_packing_range",
    "read_slab",
    "find_bad_chunk",
    "chunk_px_of",
]

PACKING: dict[str, tuple[float, float]] = {
    "ndvi": (1e-4, 0.0),
    "evi": (1e-4, 0.0),
    "lst_day": (0.01, 0.0),
    "lst_night": (0.01, 0.0),
    "ppt": (0.05, 1600.0),
    "elevation": (0.25, 4000.0),
    "sand": (5e-5, 1.0),
    "silt": (5e-5, 1.0),
    "clay": (5e-5, 1.0),
}
"""CF int16 packing (scale_factor, add_offset) per band: value = int * scale + offset."""

FILL_VALUE = np.int16(-32768)
"""The packed value of a missing pixel (NaN)."""

DEFAULT_CHUNK_PX = 64
"""Chunk side in pixels: a 50 px tile (paper) or a 16 px one (demo) overlaps at most 2 x 2 chunks.

Measured with ``python -m geoapp bench data --chunks`` (docs/benchmarks.md, "Scale: the paper-size cube").
"""


def pack(values: np.ndarray, band: str) -> np.ndarray:
    """``values`` (cube units, NaN for missing) as the int16 the file stores for ``band``.

    The arithmetic is xarray's CF encoder's (float32 ``(v - offset) / scale``, rounded half to even),
    so a cube written here holds the same integers as one written by ``xarray.Dataset.to_netcdf``.
    """
    scale, offset = PACKING[band]
    data = np.array(values, dtype=np.float32, copy=True)
    data -= np.float32(offset)
    data /= np.float32(scale)
    missing = np.isnan(data)
    data[missing] = FILL_VALUE
    return np.around(data).astype(np.int16)


def check_packing_range(values: np.ndarray, band: str, where: str = "") -> None:
    """Refuse values the int16 packing of ``band`` cannot hold (they would wrap silently).

    Raises:
        InputError: naming the band, the range found and the storable range.
    """
    scale, offset = PACKING[band]
    lo, hi = offset - 32767 * scale, offset + 32767 * scale
    finite = np.isfinite(values)
    if not finite.any():
        return
    vmin, vmax = float(np.min(values, where=finite, initial=np.inf)), float(np.max(values, where=finite, initial=-np.inf))
    if vmin < lo or vmax > hi:
        raise InputError(
            f"band {band!r}{where} spans {vmin:g}..{vmax:g} {BAND_INFO[band].units}, outside the storable "
            f"{lo:g}..{hi:g}; are the units right (e.g. LST in kelvin instead of degC)?"
        )


@dataclass(frozen=True)
class _Layout:
    """What a writer needs to know about the cube it writes."""

    grid: Grid
    years: tuple[int, ...]
    chunk_px: int


class CubeWriter:
    """Write a cube to NetCDF-4 at ``path``, one static band or one (band, year) at a time.

    Use as a context manager: the file is written under a temporary name; leaving the block without
    an error after every slot was written renames it onto ``path`` (an existing file is replaced);
    an error, or slots left unwritten, removes the temporary and leaves ``path`` as it was::

        with CubeWriter(path, grid, years, title="...", simulated=True) as w:
            w.write_static("elevation", elevation)       # (H, W)
            for year in years:
                for band in DYNAMIC_BANDS:
                    w.write_year(band, year, stack)      # (T, H, W), months March..September

    Only the calling thread touches the file (HDF5 is not thread-safe); compute slots in parallel
    elsewhere and hand them to one writer (:mod:`geoapp.data.parallel`).

    Args:
        path: the cube file (``.nc``).
        grid: the cube grid (EPSG:5070 by default, metres).
        years: calendar years of the dynamic bands.
        title: human-readable title (global attribute).
        simulated: True when the values come from a simulation.
        attrs: further global attributes (text or numbers), e.g. ``simulation_config``.
        chunk_px: chunk side in pixels (clipped to the grid).
        require_all: refuse to finish while a slot is unwritten (False: unwritten slots read as
            missing, NaN, as an ingest leaves the slots no raster fills).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        grid: Grid,
        years: Sequence[int],
        title: str,
        simulated: bool,
        attrs: dict[str, object] | None = None,
        chunk_px: int = DEFAULT_CHUNK_PX,
        require_all: bool = True,
    ) -> None:
        if not isinstance(grid, Grid):
            raise InputError(f"grid must be a geoapp.data.grid.Grid, got {given(grid)}")
        years = tuple(as_int(y, "years entry") for y in years)
        if not years:
            raise InputError("years is empty; a cube needs at least one year")
        self.path = Path(path)
        self.layout = _Layout(grid, years, as_int(chunk_px, "chunk_px", minimum=1))
        self._global = {
            "Conventions": "CF-1.8",
            "title": str(title),
            "simulated": int(bool(simulated)),
            **grid.to_attrs(),
            **(attrs or {}),
        }
        self.require_all = bool(require_all)
        self._written: set[tuple[str, int | None, int | None]] = set()
        self._atomic = None
        self._nc: netCDF4.Dataset | None = None

    # -- context -------------------------------------------------------------------------------
    def __enter__(self) -> CubeWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._nc = _create(tmp, self.layout, self._global)
        except BaseException as exc:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool | None:
        nc, self._nc = self._nc, None
        own: BaseException | None = None  # an error of the writer's own: closing (a full disk), or unfinished
        if nc is not None:
            try:
                nc.close()
            except BaseException as closing:  # raised below, through the temporary's cleanup
                own = closing if exc is None else None
        if exc is None and own is None and self.require_all:
            missing = self.missing()
            if missing:
                own = DataFileError(
                    f"cube {str(self.path)!r} was not finished: {len(missing)} slot(s) never written "
                    f"(first: {missing[0]}); nothing was saved"
                )
        if own is not None:
            # Removes the temporary; a full disk comes out as DiskFullError naming the cube.
            self._atomic.__exit__(type(own), own, own.__traceback__)
            raise own
        return self._atomic.__exit__(exc_type, exc, tb)

    # -- writing -------------------------------------------------------------------------------
    def set_attrs(self, **attrs: object) -> None:
        """Set global attributes (text or numbers) before the file is closed."""
        nc = self._open()
        for key, value in attrs.items():
            nc.setncattr(key, value)

    def write_static(self, band: str, values: np.ndarray) -> None:
        """Write a static band: ``values`` (H, W) in cube units, NaN for missing."""
        if band not in STATIC_BANDS:
            raise InputError(f"band {band!r} is not static; static bands are {list(STATIC_BANDS)!r}")
        self._write(band, None, None, values, (slice(None), slice(None)), self.layout.grid.shape)

    def write_slot(self, band: str, year: int, month: int, values: np.ndarray) -> None:
        """Write one month of one year of a dynamic band: ``values`` (H, W) in cube units, NaN for missing."""
        k = self._year_index(band, year)
        if month not in MONTHS:
            raise InputError(f"month {month!r} is not a cube month; expected one of {list(MONTHS)!r}")
        m = MONTHS.index(month)
        self._write(band, year, month, values, (k, m, slice(None), slice(None)), self.layout.grid.shape)

    def write_year(self, band: str, year: int, values: np.ndarray) -> None:
        """Write the months of one year of a dynamic band: ``values`` (T, H, W), March..September."""
        k = self._year_index(band, year)
        shape = (len(MONTHS), *self.layout.grid.shape)
        self._write(band, year, None, values, (k, slice(None), slice(None), slice(None)), shape)

    def _year_index(self, band: str, year: int) -> int:
        if band not in DYNAMIC_BANDS:
            raise InputError(f"band {band!r} is not a dynamic band; expected one of {list(DYNAMIC_BANDS)!r}")
        if year not in self.layout.years:
            raise InputError(f"year {year!r} is not a year of this cube ({self.layout.years[0]}..{self.layout.years[-1]})")
        return self.layout.years.index(year)

    def missing(self) -> list[str]:
        """The slots not written yet, as ``band`` or ``band year`` labels."""
        out = [b for b in STATIC_BANDS if (b, None, None) not in self._written]
        for b in DYNAMIC_BANDS:
            for y in self.layout.years:
                if (b, y, None) in self._written:
                    continue
                months = [m for m in MONTHS if (b, y, m) not in self._written]
                out += [f"{b} {y}"] if len(months) == len(MONTHS) else [f"{b} {y}-{m:02d}" for m in months]
        return out

    def _write(
        self, band: str, year: int | None, month: int | None, values: np.ndarray, index: tuple, shape: tuple[int, ...]
    ) -> None:
        values = np.asarray(values)
        if values.shape != shape:
            raise InputError(f"band {band!r} values have shape {values.shape}; expected {shape}")
        where = "" if year is None else f" in {year}" if month is None else f" in {year}-{month:02d}"
        check_packing_range(values, band, where)
        self._open()[band][index] = pack(values, band)
        self._written.add((band, year, month))

    def _open(self) -> netCDF4.Dataset:
        if self._nc is None:
            raise DataFileError("the cube writer is not open; use it as a context manager (with CubeWriter(...) as w)")
        return self._nc


def _create(path: Path, layout: _Layout, global_attrs: dict[str, object]) -> netCDF4.Dataset:
    """Create the file with its dimensions, coordinates, grid mapping and empty band variables."""
    grid = layout.grid
    h, w = grid.shape
    nc = netCDF4.Dataset(path, "w", format="NETCDF4")
    try:
        for name, size in (("year", len(layout.years)), ("month", len(MONTHS)), ("y", h), ("x", w)):
            nc.createDimension(name, size)
        nc.createVariable("year", "i4", ("year",))[:] = np.asarray(layout.years, dtype=np.int32)
        month = nc.createVariable("month", "i4", ("month",))
        month.setncatts({"long_name": "calendar month", "units": "1"})
        month[:] = np.asarray(MONTHS, dtype=np.int32)
        for axis, values in (("y", grid.y), ("x", grid.x)):
            var = nc.createVariable(axis, "f8", (axis,), fill_value=np.nan)
            var.setncatts({"standard_name": f"projection_{axis}_coordinate", "units": "m", "axis": axis.upper()})
            var[:] = values
        ref = nc.createVariable("spatial_ref", "i4", ())
        ref.setncatts(grid.cf_grid_mapping())
        ref.assignValue(0)
        ch, cw = min(layout.chunk_px, h), min(layout.chunk_px, w)
        for band in BANDS:
            info = BAND_INFO[band]
            dims = ("y", "x") if info.static else ("year", "month", "y", "x")
            chunks = (ch, cw) if info.static else (1, 1, ch, cw)
            var = nc.createVariable(
                band, "i2", dims, zlib=True, complevel=1, shuffle=True, chunksizes=chunks, fill_value=FILL_VALUE
            )
            scale, offset = PACKING[band]
            var.setncatts(
                {
                    "units": info.units,
                    "long_name": info.long_name,
                    "source": info.source,
                    "grid_mapping": "spatial_ref",
                    "coordinates": "spatial_ref",
                    "add_offset": np.float32(offset),
                    "scale_factor": np.float32(scale),
                }
            )
            var.set_auto_maskandscale(False)  # geoapp packs (pack()) so the integers match xarray's
        nc.setncatts({k: v for k, v in global_attrs.items() if v is not None})
    except BaseException:
        nc.close()
        raise
    return nc


# ---------------------------------------------------------------------------------------------
# reading


def chunk_px_of(cube: xr.Dataset, band: str = "ndvi") -> tuple[int, int]:
    """The (rows, cols) of ``band``'s on-disk chunks (the whole grid for a cube stored unchunked)."""
    sizes = cube[band].encoding.get("chunksizes")
    if not sizes:
        return int(cube.sizes["y"]), int(cube.sizes["x"])
    return int(sizes[-2]), int(sizes[-1])


def read_slab(da: xr.DataArray, **index: object) -> np.ndarray:
    """``da.isel(**index)`` read into memory; a damaged chunk is a DataFileError naming it.

    Args:
        da: a band of an opened cube (lazy or dask-backed).
        index: positional indexers (ints or slices) for ``da.isel``.

    Raises:
        DataFileError: the file could not be read there; names the variable and the first damaged
            chunk found (:func:`find_bad_chunk`), and says to rebuild.
    """
    try:
        return np.asarray(da.isel(**index).values)
    except (RuntimeError, OSError, ValueError) as exc:
        raise damaged_error(da, index, exc) from exc


def damaged_error(da: xr.DataArray, index: dict[str, object], exc: BaseException) -> DataFileError:
    """The DataFileError for a failed read of ``da`` at ``index`` (the variable and chunk named)."""
    source = da.encoding.get("source")
    name = str(da.name)
    where = f"cube {str(source)!r}" if source else "the cube"
    bad = find_bad_chunk(Path(source), name, index) if source else None
    chunk = f" chunk {bad}" if bad else f" region {_describe(index)}"
    return DataFileError(
        f"{where}: variable {name!r}{chunk} cannot be read ({exc}); the file is damaged (a bad disk, an interrupted "
        "copy): rebuild the dataset (`python -m geoapp data build ... --force`) or copy the file again"
    )


def find_bad_chunk(path: Path, variable: str, index: dict[str, object] | None = None) -> str | None:
    """The first chunk of ``variable`` in ``path`` (within ``index``) that cannot be read, described, or None.

    Reads the chunks one at a time with netCDF4 (no cache), so a damaged one is found by its own error.
    Under xarray's HDF5 lock: when a dask read of the same file has just failed, other dask threads may
    still be reading it, and the HDF5 library crashes (segmentation fault) when two threads use it at once.
    """
    with HDF5_LOCK:
        return _find_bad_chunk(path, variable, index)


def _find_bad_chunk(path: Path, variable: str, index: dict[str, object] | None) -> str | None:
    try:
        nc = netCDF4.Dataset(path, "r")
    except OSError:
        return None
    try:
        var = nc[variable]
        var.set_auto_maskandscale(False)
        sizes = var.chunking()
        if sizes == "contiguous":
            sizes = list(var.shape)
        for box in _chunk_boxes(var.dimensions, var.shape, sizes, index or {}):
            try:
                var[tuple(slice(a, b) for a, b in box)]
            except (RuntimeError, OSError, ValueError, IndexError):
                return _describe_box(var.dimensions, box, nc)
        return None
    finally:
        nc.close()


def _chunk_boxes(
    dims: tuple[str, ...], shape: tuple[int, ...], sizes: Sequence[int], index: dict[str, object]
) -> Iterator[list[tuple[int, int]]]:
    """Every chunk (as [(start, stop)] per dim) that overlaps ``index``."""
    ranges = []
    for dim, n, size in zip(dims, shape, sizes, strict=True):
        sel = index.get(dim, slice(None))
        if isinstance(sel, slice):
            lo, hi, _ = sel.indices(n)
        else:
            lo = int(sel)
            hi = lo + 1
        first, last = lo // size, max(lo, hi - 1) // size
        ranges.append([(c * size, min((c + 1) * size, n)) for c in range(first, last + 1)])
    yield from (list(box) for box in _product(ranges))


def _product(ranges: list[list[tuple[int, int]]]) -> Iterator[tuple[tuple[int, int], ...]]:
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for tail in _product(ranges[1:]):
            yield (head, *tail)


def _describe_box(dims: tuple[str, ...], box: list[tuple[int, int]], nc: netCDF4.Dataset) -> str:
    parts = []
    for dim, (a, b) in zip(dims, box, strict=True):
        if dim in ("year", "month") and b - a == 1:
            parts.append(f"{dim} {int(nc[dim][a])}")
        else:
            parts.append(f"{_AXIS_WORDS.get(dim, dim)} {a}..{b - 1}")
    return "(" + ", ".join(parts) + ")"


_AXIS_WORDS = {"y": "rows", "x": "cols"}


def _describe(index: dict[str, object]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in index.items()) + ")" if index else "(whole variable)"
