"""The geo-spatiotemporal cube: one xarray Dataset format for every input geoapp trains on.

Layout (CF-1.8, readable by rioxarray, GDAL and QGIS):

- coordinates ``year`` (int), ``month`` (3..9, March to September), ``y`` and ``x`` (pixel centres in
  metres of the grid CRS, EPSG:5070 by default; ``y`` decreasing, north-up);
- one data variable per band (:data:`geoapp.data.bands.BANDS`), each with ``units`` and
  ``long_name``: dynamic bands have dims ``(year, month, y, x)``, static bands ``(y, x)``; NaN marks
  missing pixels;
- a scalar ``spatial_ref`` variable holding the CF grid mapping (every band points at it);
- global attributes describing the grid (:meth:`Grid.to_attrs`), ``title`` and ``simulated`` (0/1).

:func:`as_array` stacks the bands into one (year, month, band, y, x) array, broadcasting static bands
over years and months. :func:`band_stats` gives the per-month, per-band mean and standard deviation
over training years only (the paper standardises each month separately).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from geoapp.data.args import as_bool, as_int, as_path, as_text, given
from geoapp.data.bands import BAND_INFO, BANDS, MONTHS, STATIC_BANDS, check_bands
from geoapp.data.cube_store import DEFAULT_CHUNK_PX, PACKING, CubeWriter, check_packing_range, damaged_error
from geoapp.data.grid import Grid
from geoapp.errors import DataFileError, InputError

__all__ = [
    "PACKING",
    "empty_cube",
    "save_cube",
    "open_cube",
    "cube_grid",
    "as_array",
    "band_stats",
    "validate_cube",
    "select_years",
]

GRID_ATTRS = ("grid_crs", "grid_resolution_m", "grid_bounds_m")
"""The global attributes that describe the grid (:meth:`Grid.to_attrs`)."""


def dask_compute(*objects: xr.DataArray) -> tuple[xr.DataArray, ...]:
    """Compute lazy (dask-backed) results on dask's local threads; in-memory ones pass through."""
    import dask

    return dask.compute(*objects, scheduler="threads")


def empty_cube(grid: Grid, years: Sequence[int], title: str, simulated: bool) -> xr.Dataset:
    """A cube on ``grid`` for ``years`` with every band filled with NaN (float32).

    Args:
        grid: target grid.
        years: calendar years, e.g. ``range(2003, 2019)``.
        title: human-readable dataset title.
        simulated: True when the values come from a simulation (shown as such in the app).

    Raises:
        InputError: an argument of the wrong type, or no years.
    """
    if not isinstance(grid, Grid):
        raise InputError(f"grid must be a geoapp.data.grid.Grid, got {given(grid)}")
    years = _years(years, "years")
    title = as_text(title, "title")
    simulated = as_bool(simulated, "simulated")
    h, w = grid.shape
    coords = {
        "year": ("year", np.asarray(years, dtype=np.int32)),
        "month": ("month", np.asarray(MONTHS, dtype=np.int32), {"long_name": "calendar month", "units": "1"}),
        "y": ("y", grid.y, {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}),
        "x": ("x", grid.x, {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}),
    }
    data_vars: dict[str, xr.Variable] = {}
    for name in BANDS:
        info = BAND_INFO[name]
        dims = ("y", "x") if info.static else ("year", "month", "y", "x")
        shape = (h, w) if info.static else (len(years), len(MONTHS), h, w)
        attrs = {"units": info.units, "long_name": info.long_name, "source": info.source, "grid_mapping": "spatial_ref"}
        data_vars[name] = xr.Variable(dims, np.full(shape, np.nan, dtype=np.float32), attrs)
    ds = xr.Dataset(data_vars, coords=coords)
    ds["spatial_ref"] = xr.Variable((), np.int32(0), grid.cf_grid_mapping())
    ds = ds.set_coords("spatial_ref")
    ds.attrs.update({"Conventions": "CF-1.8", "title": title, "simulated": int(bool(simulated)), **grid.to_attrs()})
    return ds


def save_cube(ds: xr.Dataset, path: str | os.PathLike[str], chunk_px: int = DEFAULT_CHUNK_PX) -> Path:
    """Write the in-memory cube ``ds`` to NetCDF-4 at ``path`` atomically (int16, compressed, tile-sized chunks).

    Goes through :class:`~geoapp.data.cube_store.CubeWriter` one band-year at a time; builds that must
    not hold a whole cube write through the writer themselves (:mod:`geoapp.data.simulate`,
    :mod:`geoapp.data.ingest`).

    Raises:
        InputError: ``ds`` is not a cube, or a band holds values the int16 packing cannot store.
    """
    validate_cube(ds)
    path = as_path(path, "path")
    years = [int(y) for y in ds["year"].values]
    attrs = {k: v for k, v in ds.attrs.items() if k not in ("Conventions", "title", "simulated", *GRID_ATTRS)}
    for name in BANDS:  # refuse before anything is written
        check_packing_range(ds[name].values, name)
    with CubeWriter(
        path, cube_grid(ds), years, str(ds.attrs.get("title", "")), bool(ds.attrs.get("simulated", 0)), attrs, chunk_px
    ) as writer:
        for name in BANDS:
            var = ds[name]
            if name in STATIC_BANDS:
                writer.write_static(name, var.values)
            else:
                for k, year in enumerate(years):
                    writer.write_year(name, year, var.isel(year=k).values)
    return path


def open_cube(path: str | os.PathLike[str], load: bool = False, chunks: object = "slots") -> xr.Dataset:
    """Open a cube written by :func:`save_cube` (or any NetCDF with the same layout), lazily.

    Args:
        path: NetCDF file.
        load: read every value into memory now (small cubes and tests only; geoapp's own readers
            never do: they read slots or tiles, see :mod:`geoapp.data.cube_store`).
        chunks: ``"slots"`` (default): dask-backed, one dask chunk per (year, month) slot of the full
            grid, so reductions stream slot by slot; ``None``: lazily indexed without dask (each read
            goes straight to the file: the fastest for many small tile reads); or xarray's ``chunks``.

    Raises:
        DataFileError: if the file is missing or is not a readable cube.
        InputError: ``path`` is not a path, or ``load`` not a bool.
    """
    path = as_path(path, "path")
    load = as_bool(load, "load")
    if not path.exists():
        raise DataFileError(f"cube file {str(path)!r} does not exist; build it with `python -m geoapp data build`")
    if path.is_dir():
        raise DataFileError(f"cube file {str(path)!r} is a folder, not a NetCDF file; give the cube file, or rebuild it")
    if isinstance(chunks, str) and chunks == "slots":
        chunks = {"year": 1, "month": 1, "y": -1, "x": -1}
    try:
        ds = xr.open_dataset(path, engine="netcdf4", mask_and_scale=True, chunks=chunks)
    except Exception as exc:  # h5py/netCDF raise many types for garbled files
        raise DataFileError(f"cannot read cube {str(path)!r}: {exc}; is it a NetCDF-4 file written by geoapp?") from exc
    try:
        validate_cube(ds)
    except InputError as exc:
        ds.close()
        raise DataFileError(f"{str(path)!r} is not a geoapp cube: {exc}") from exc
    if load:
        try:
            ds = ds.load()
        except (RuntimeError, OSError, ValueError) as exc:
            ds.close()
            raise DataFileError(f"cannot read cube {str(path)!r}: {exc}; the file is damaged: rebuild it") from exc
        ds.close()
    return ds


def validate_cube(ds: xr.Dataset) -> None:
    """Check that ``ds`` has the cube layout; raise :class:`InputError` naming what is missing."""
    _check_cube(ds)
    missing = [b for b in BANDS if b not in ds.data_vars]
    if missing:
        raise InputError(f"cube lacks band(s) {missing!r}; expected all of {list(BANDS)!r}")
    for name in BANDS:
        want = ("y", "x") if BAND_INFO[name].static else ("year", "month", "y", "x")
        if tuple(ds[name].dims) != want:
            raise InputError(f"band {name!r} has dims {tuple(ds[name].dims)!r}; expected {want!r}")
    months = [int(m) for m in ds["month"].values]
    if months != list(MONTHS):
        raise InputError(f"cube months are {months!r}; expected {list(MONTHS)!r} (March to September)")
    cube_grid(ds)


def cube_grid(ds: xr.Dataset) -> Grid:
    """The :class:`Grid` a cube lives on (from its global attributes)."""
    _check_cube(ds)
    return Grid.from_attrs(ds.attrs)


def as_array(
    ds: xr.Dataset,
    bands: Sequence[str] = BANDS,
    years: Sequence[int] | None = None,
) -> xr.DataArray:
    """Stack bands into one DataArray of dims (year, month, band, y, x), static bands broadcast.

    Args:
        ds: a cube.
        bands: band names in the wanted order (default: all nine, paper order).
        years: subset of years (default: all).
    """
    _check_cube(ds)
    bands = check_bands(bands)
    if years is not None:
        ds = select_years(ds, years)
    parts = []
    for b in bands:
        da = ds[b]
        if b in STATIC_BANDS:
            da = da.expand_dims(year=ds["year"].values, month=ds["month"].values)
        parts.append(da.transpose("year", "month", "y", "x"))
    return xr.concat(parts, dim=xr.DataArray(list(bands), dims="band", name="band")).transpose("year", "month", "band", "y", "x")


def select_years(ds: xr.Dataset, years: Sequence[int]) -> xr.Dataset:
    """The cube restricted to ``years``; an error names any year the cube does not hold.

    Raises:
        InputError: ``ds`` is not a cube, ``years`` is not a non-empty list of whole years, or the cube
            lacks one of them.
    """
    _check_cube(ds)
    years = _years(years, "years")
    have = {int(y) for y in ds["year"].values}
    absent = [y for y in years if y not in have]
    if absent:
        raise InputError(f"year(s) {absent!r} not in the cube; it holds {min(have)}..{max(have)}")
    return ds.sel(year=years)


def band_stats(ds: xr.Dataset, train_years: Sequence[int], bands: Sequence[str] = BANDS) -> xr.Dataset:
    """Per-month, per-band mean and standard deviation over ``train_years`` only.

    Statistics skip NaN. Static bands get the same values in every month. The standard deviation is
    floored at 1e-6 so standardising never divides by zero.

    Returns:
        Dataset with ``mean`` and ``std``, each dims (month, band), float64.

    Raises:
        InputError: ``ds`` is not a cube, ``train_years`` not a non-empty list of whole years the cube
            holds, ``bands`` not a list of known bands, or a band has no data in those years.
    """
    train_years = _years(train_years, "train_years")
    bands = check_bands(bands)
    sub = select_years(ds, train_years)
    means = np.zeros((len(MONTHS), len(bands)))
    stds = np.zeros((len(MONTHS), len(bands)))
    for j, b in enumerate(bands):
        # Moments streamed slot by slot (dask on an opened cube; numpy on one in memory), float64.
        da = sub[b].astype(np.float64)
        dims = ("y", "x") if b in STATIC_BANDS else ("year", "y", "x")
        try:
            mean, std = dask_compute(da.mean(dims, skipna=True), da.std(dims, skipna=True))
        except (RuntimeError, OSError, ValueError) as exc:
            raise damaged_error(sub[b], {}, exc) from exc
        if b in STATIC_BANDS:
            means[:, j], stds[:, j] = float(mean), float(std)
        else:
            means[:, j] = mean.sel(month=list(MONTHS)).values
            stds[:, j] = std.sel(month=list(MONTHS)).values
    if not np.all(np.isfinite(means)):
        empty = [
            b if b in STATIC_BANDS else f"{b} month {MONTHS[i]}"
            for j, b in enumerate(bands)
            for i in ([0] if b in STATIC_BANDS else range(len(MONTHS)))
            if not np.isfinite(means[i, j])
        ]
        raise InputError(
            f"no data in the training years {list(train_years)!r} for {', '.join(empty)}; cannot standardise "
            "(add rasters for those slots to the manifest, or choose other training years)"
        )
    coords = {"month": list(MONTHS), "band": list(bands)}
    return xr.Dataset(
        {"mean": (("month", "band"), means), "std": (("month", "band"), np.maximum(stds, 1e-6))},
        coords=coords,
        attrs={"train_years": [int(y) for y in train_years]},
    )


def _check_cube(ds: object) -> None:
    """Refuse a cube argument that is not an xarray Dataset (None, a path, a DataArray)."""
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"ds must be a cube (an xarray Dataset, e.g. from open_cube), got {given(ds)}")


def _years(years: object, name: str) -> list[int]:
    """``years`` (a list, tuple, range or 1-D array of whole years) as a non-empty list of ints.

    A single year, text, floats and bools are refused, never converted.
    """
    if isinstance(years, np.ndarray) and years.ndim == 1:
        years = years.tolist()
    if not isinstance(years, (list, tuple, range)):
        raise InputError(f"{name} must be a list of whole years such as [2016, 2017], got {given(years)}")
    if len(years) == 0:
        raise InputError(f"{name} is empty; expected at least one year")
    return [as_int(y, f"{name} entry") for y in years]
