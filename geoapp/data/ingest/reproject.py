"""Reading a raster and reprojecting it onto the cube grid, with GDAL through rasterio.

:func:`reproject_raster` opens a GeoTIFF or NetCDF variable, reads the part of one band that covers
the grid (in strips, block-averaged first when the window is very large, see :data:`MAX_READ_PIXELS`)
and warps it onto the grid (EPSG:5070 metres) with ``rasterio.warp.reproject``: ``average``
resampling when the source pixels are finer than the grid, ``bilinear`` otherwise. Source nodata,
masked pixels and NaN become NaN. GDAL and I/O failures become :class:`~geoapp.errors.DataFileError`
that says what the file is (:func:`raster_file_error`: empty, truncated or corrupt, a NetCDF file with no
data variables, not a raster at all), a raster without a CRS or off the grid a
:class:`~geoapp.errors.CRSError` that says how to fix it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS as RioCRS
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.warp import transform as transform_points
from rasterio.windows import Window

from geoapp.data.grid import Grid
from geoapp.data.ingest.manifest import NETCDF_GDAL_NAME
from geoapp.errors import CRSError, DataFileError, GeoappError, InputError

__all__ = ["MAX_READ_PIXELS", "Reprojected", "reproject_raster", "raster_file_error", "gdal_detail"]

MAX_READ_PIXELS = 2**25
"""Largest source window read into memory at full resolution (about 134 MB as float32).

A larger window (e.g. a 30 m SRTM mosaic for a 4 km grid) is read in strips and block-averaged by an
integer factor first, never coarser than a quarter of a grid pixel.
"""


@dataclass(frozen=True)
class Reprojected:
    """One raster band warped onto a grid.

    Attributes:
        values: float32 (grid.height, grid.width) raw values (the file's scale/offset not applied yet),
            NaN where the source has no data or does not reach.
        scale, offset: the file's own scale and offset of that band (1 and 0 when it has none); a value
            in the file's units is ``raw * scale + offset``.
        resampling: ``average`` (source pixels finer than the grid) or ``bilinear``.
        source_crs: the raster's CRS, e.g. ``"EPSG:4326"``.
    """

    values: np.ndarray
    scale: float
    offset: float
    resampling: Resampling
    source_crs: str


def reproject_raster(source: str, layer: int | None, grid: Grid, where: str, file_name: str, notes: list[str]) -> Reprojected:
    """Read band ``layer`` of the raster ``source`` (1 when None) and warp it onto ``grid``.

    Args:
        source: what GDAL opens: a file path or ``NETCDF:"file.nc":variable``.
        layer: 1-based band index, None for band 1 (with a warning, also added to ``notes``, when there
            are several).
        grid: the cube grid (CRS, transform, shape).
        where: how messages name the raster (e.g. with its manifest line).
        file_name: the raster file's name, for the commands a missing-CRS message suggests.
        notes: warnings are appended here (:func:`~geoapp.data.ingest.ingest_manifest` issues them).

    Raises:
        DataFileError: the raster cannot be opened or read.
        CRSError: the raster has no CRS, does not overlap the grid, or cannot be reprojected onto it.
        InputError: a multi-variable NetCDF without a variable named, or a layer the raster lacks.
    """
    with _open_raster(source, where) as src:
        index = _pick_layer(src, layer, where, notes)
        if src.crs is None:
            fix = (
                f"add a CF grid_mapping variable (with rioxarray: ds.rio.write_crs('EPSG:4326').to_netcdf(...)) or "
                f"convert it, e.g. `gdal_translate -a_srs EPSG:4326 {file_name} fixed.tif`"
                if src.driver == "netCDF"
                else f"e.g. `gdal_edit.py -a_srs EPSG:4326 {file_name}` writes one into a GeoTIFF"
            )
            raise CRSError(
                f"{where} has no CRS, so geoapp cannot tell where it lies. Embed one (GeoTIFF georeferencing, a "
                f"NetCDF grid_mapping variable) or put a .prj or .aux.xml file beside it; {fix}"
            )
        src_crs = src.crs
        window = _window_over_grid(src, grid, where)
        pixel_m = _source_pixel_size_m(src, window, grid)
        resampling = Resampling.average if pixel_m < grid.resolution_m else Resampling.bilinear
        factor = _decimation_factor(window, pixel_m, grid.resolution_m)
        data, transform = _read_window(src, index, window, factor, where)
        scale = float(src.scales[index - 1] or 1.0)
        offset = float(src.offsets[index - 1] or 0.0)

    values = np.full(grid.shape, np.nan, dtype=np.float32)
    try:
        reproject(
            source=data,
            destination=values,
            src_transform=transform,
            src_crs=src_crs,
            src_nodata=np.nan,
            dst_transform=grid.transform,
            dst_crs=RioCRS.from_user_input(grid.crs),
            dst_nodata=np.nan,
            resampling=resampling,
        )
    except rasterio.errors.RasterioError as exc:
        raise CRSError(f"{where}: cannot reproject from {_crs_name(src_crs)} to the grid's {grid.crs}: {exc}") from exc
    return Reprojected(values, scale, offset, resampling, _crs_name(src_crs))


@contextmanager
def _open_raster(source: str, where: str) -> Iterator[rasterio.io.DatasetReader]:
    """Open ``source`` with rasterio; GDAL/IO failures (also while reading) become DataFileError."""
    opened = False
    try:
        with warnings.catch_warnings():
            # a raster without georeferencing gets geoapp's own CRSError below, with advice
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(source)
        opened = True
        with src:
            yield src
    except GeoappError:
        raise
    except (rasterio.errors.RasterioError, OSError) as exc:
        m = NETCDF_GDAL_NAME.match(source)
        file, variable = (m["file"], m["var"]) if m else (source, None)
        raise raster_file_error(file, where, exc, reading=opened, variable=variable) from exc


_MAGIC: dict[bytes, str] = {
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"II+\x00": "TIFF",
    b"MM\x00+": "TIFF",
    b"CDF\x01": "NetCDF",
    b"CDF\x02": "NetCDF",
    b"CDF\x05": "NetCDF",
    b"\x89HDF": "NetCDF",
}
"""First bytes of the files geoapp reads: (Big)TIFF, classic NetCDF, NetCDF-4 (HDF5)."""


def raster_file_error(
    file: str | os.PathLike[str],
    where: str,
    exc: BaseException,
    *,
    reading: bool = False,
    variable: str | None = None,
    expected: str = "a GeoTIFF or NetCDF raster",
) -> DataFileError:
    """The :class:`DataFileError` for a raster GDAL failed to open or read, saying what the file is.

    Args:
        file: the raster file (not a GDAL ``NETCDF:`` name).
        where: how the message names the raster (e.g. with its manifest line).
        exc: rasterio's error (its GDAL detail is quoted; "See previous exception" is replaced by the cause).
        reading: True when the file opened but reading its pixels failed (a truncated or corrupt file).
        variable: the NetCDF variable asked for, if any.
        expected: what the file should have been, in words.
    """
    detail = gdal_detail(exc)
    again = "download or export it again"
    try:
        path = Path(file)
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as err:
        return DataFileError(f"cannot read {where}: {err.strerror or err}; expected {expected}")
    if size == 0:
        return DataFileError(f"cannot read {where}: the file is empty (0 bytes); expected {expected}; {again}")
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind == "NetCDF":
        contents = _netcdf_contents(path)
        if contents is not None:
            data_vars, others = contents
            holds = f"it holds only {others}" if others else "it holds nothing at all"
            if not data_vars:
                return DataFileError(
                    f"cannot read {where}: the NetCDF file holds no data variables ({holds}); expected a variable "
                    f"on a lon/lat or projected grid, e.g. ppt(lat, lon); {again}"
                )
            names = ", ".join(data_vars)
            if variable is not None and variable not in data_vars:
                return DataFileError(f"cannot read {where}: does the NetCDF file have a variable {variable!r}? It has: {names}")
            if not reading:
                return DataFileError(
                    f"cannot read {where}: GDAL sees no raster in the NetCDF file ({detail}); its data variables are "
                    f"{', '.join(data_vars.values())}; expected a variable with two grid dimensions, e.g. ppt(lat, lon)"
                )
    if reading or kind is not None:
        return DataFileError(f"cannot read {where}: the file is truncated or corrupt (rasterio: {detail}); {again}")
    return DataFileError(
        f"cannot read {where}: it is not a raster GDAL can read (rasterio: {detail}; the file starts with {head!r}); "
        f"expected {expected}"
    )


def gdal_detail(exc: BaseException) -> str:
    """The messages of ``exc`` and its causes, leaving out rasterio's bare "See previous exception"."""
    messages: list[str] = []
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        text = " ".join(str(err).split())
        if text and "see previous exception" not in text.lower() and not any(text in m for m in messages):
            messages.append(text)
        err = err.__cause__ or err.__context__
    return "; ".join(messages) or f"{str(exc).split('.')[0] or type(exc).__name__}, with no detail from GDAL"


def _netcdf_contents(path: Path) -> tuple[dict[str, str], str] | None:
    """({data variable: "name(dims)"}, what else the file holds in words), or None if it cannot be opened."""
    try:
        import xarray as xr

        with xr.open_dataset(path, decode_times=False, decode_cf=False) as ds:
            data_vars = {str(n): f"{n}({', '.join(map(str, v.dims))})" for n, v in ds.data_vars.items()}
            coords = [str(c) for c in ds.coords]
            dims = [f"{d}={n}" for d, n in ds.sizes.items()]
    except Exception:  # noqa: BLE001 - only for a message
        return None
    parts = []
    if coords:
        parts.append(f"coordinates {', '.join(coords)}")
    if dims:
        parts.append(f"dimensions {', '.join(dims)}")
    return data_vars, "; ".join(parts)


def _pick_layer(src: rasterio.io.DatasetReader, layer: int | None, where: str, notes: list[str]) -> int:
    """The 1-based band index to read: the manifest's ``layer``, else 1 (warning if there are several)."""
    if src.count == 0:
        names = [s.rsplit(":", 1)[-1] for s in src.subdatasets]
        if not names:
            raise raster_file_error(src.name, where, rasterio.errors.RasterioIOError("the file has no raster band"))
        raise InputError(
            f"{where} holds several variables ({', '.join(names) or 'none readable'}); name one in the manifest "
            f"as file.nc:variable"
        )
    if layer is None:
        if src.count > 1:
            msg = f"{where} has {src.count} bands; using band 1 (add a 'layer' column to the manifest to pick another)"
            notes.append(msg)  # ingest_manifest issues it as a warning
        return 1
    if layer > src.count:
        raise InputError(f"{where}: layer {layer} asked for, but the raster has only {src.count} band(s)")
    return layer


def _window_over_grid(src: rasterio.io.DatasetReader, grid: Grid, where: str) -> Window:
    """The source pixels covering the grid (plus 2 pixels for bilinear), clipped to the raster.

    Raises:
        CRSError: the raster's footprint and the grid do not overlap.
    """
    grid_bounds = (grid.xmin, grid.ymin, grid.xmax, grid.ymax)
    try:
        gx0, gy0, gx1, gy1 = transform_bounds(grid.crs, src.crs, *grid_bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - PROJ raises several types for points outside a projection's domain
        gx0 = gy0 = gx1 = gy1 = math.nan
    (sx0, sx1), (sy0, sy1) = sorted(src.bounds[0::2]), sorted(src.bounds[1::2])  # south-up: bottom above top
    overlap = (
        all(math.isfinite(v) for v in (gx0, gy0, gx1, gy1)) and min(gx1, sx1) > max(gx0, sx0) and min(gy1, sy1) > max(gy0, sy0)
    )
    if not overlap:
        hint = ""
        if src.crs.is_geographic and sx1 > 180:
            hint = " Its longitudes run 0..360; shift them to -180..180 first (e.g. gdalwarp --config CENTER_LONG 0)."
        raise CRSError(
            f"{where}: no overlap with the cube grid; do the CRSs match? The raster covers "
            f"{_fmt_bounds((sx0, sy0, sx1, sy1))} in {_crs_name(src.crs)}; the grid covers "
            f"{_fmt_bounds(grid_bounds)} in {grid.crs}, which is {_fmt_bounds((gx0, gy0, gx1, gy1))} in the "
            f"raster's CRS. A raster in metres labelled EPSG:4326 (or the reverse) lands far away.{hint}"
        )
    inv = ~src.transform
    corners = [inv @ (x, y) for x in (max(gx0, sx0), min(gx1, sx1)) for y in (max(gy0, sy0), min(gy1, sy1))]
    cols = [c for c, _ in corners]
    rows = [r for _, r in corners]
    c0 = max(0, math.floor(min(cols)) - 2)
    r0 = max(0, math.floor(min(rows)) - 2)
    c1 = min(src.width, math.ceil(max(cols)) + 2)
    r1 = min(src.height, math.ceil(max(rows)) + 2)
    return Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))


def _crs_name(crs: RioCRS) -> str:
    """``"EPSG:4326"`` when the CRS has an EPSG code, else the start of its description."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]


def _fmt_bounds(b: tuple[float, float, float, float]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in b) + ")"


def _source_pixel_size_m(src: rasterio.io.DatasetReader, window: Window, grid: Grid) -> float:
    """Size of one source pixel in grid metres (geometric mean of width and height) at the window centre."""
    t = src.transform
    col = window.col_off + window.width / 2
    row = window.row_off + window.height / 2
    pts = [t @ (col, row), t @ (col + 1, row), t @ (col, row + 1)]
    xs, ys = transform_points(src.crs, grid.crs, [p[0] for p in pts], [p[1] for p in pts])
    dx = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
    dy = math.hypot(xs[2] - xs[0], ys[2] - ys[0])
    size = math.sqrt(dx * dy)
    return size if math.isfinite(size) and size > 0 else grid.resolution_m


def _decimation_factor(window: Window, pixel_m: float, grid_res_m: float) -> int:
    """Integer block size to average the source by before warping (1: read at full resolution)."""
    n = float(window.width) * float(window.height)
    if n <= MAX_READ_PIXELS:
        return 1
    for_memory = math.ceil(math.sqrt(n / MAX_READ_PIXELS))
    for_quality = math.floor(grid_res_m / (4.0 * pixel_m))
    return max(1, min(for_memory, for_quality))


def _read_window(
    src: rasterio.io.DatasetReader, layer: int, window: Window, factor: int, where: str = "the raster"
) -> tuple[np.ndarray, Affine]:
    """Band ``layer`` over ``window`` as float32, NaN where masked/nodata/NaN, block-averaged by ``factor``.

    Raises:
        InputError: a pixel that is not masked is infinite (warping would silently make it nodata).

    The window's start is moved back to a multiple of ``factor`` so that blocks follow the raster's own
    lattice (a source aligned with the grid then gives blocks that never straddle two grid pixels).

    Returns:
        (array, its affine transform in the source CRS). Values are raw (no scale/offset applied).
    """
    if factor > 1:
        c0, r0 = int(window.col_off) // factor * factor, int(window.row_off) // factor * factor
        window = Window(c0, r0, window.width + window.col_off - c0, window.height + window.row_off - r0)
    h, w = int(window.height), int(window.width)
    out_h, out_w = -(-h // factor), -(-w // factor)
    out = np.empty((out_h, out_w), dtype=np.float32)
    strip = max(factor, (MAX_READ_PIXELS // max(w, 1)) // factor * factor)
    for r in range(0, h, strip):
        win = Window(window.col_off, window.row_off + r, w, min(strip, h - r))
        data = src.read(layer, window=win).astype(np.float32, copy=False)
        mask = src.read_masks(layer, window=win)
        data = np.where(mask == 0, np.float32(np.nan), data)
        n_inf = int(np.isinf(data).sum())
        if n_inf:
            raise InputError(
                f"{where}: {n_inf} pixel(s) of band {layer} are infinite; if they mark missing data, declare that "
                f"value as the file's nodata (e.g. `gdal_edit.py -a_nodata inf <file>`), otherwise fix the file"
            )
        out[r // factor : r // factor + -(-data.shape[0] // factor)] = _block_mean(data, factor)
    transform = src.transform @ Affine.translation(window.col_off, window.row_off) @ Affine.scale(factor)
    return out, transform


def _block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Mean of the non-NaN values in each ``factor`` x ``factor`` block (NaN if none); pads with NaN."""
    if factor == 1:
        return data
    h, w = data.shape
    ph, pw = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.full((ph, pw), np.nan, dtype=np.float32)
    padded[:h, :w] = data
    blocks = padded.reshape(ph // factor, factor, pw // factor, factor)
    valid = ~np.isnan(blocks)
    count = valid.sum(axis=(1, 3))
    total = np.where(valid, blocks, 0.0).sum(axis=(1, 3), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)
