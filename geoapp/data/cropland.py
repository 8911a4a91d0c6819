"""County anchors at the centre of each county's cropland, from a categorical land-cover raster.

The paper centres each county's anchor tile on its cropland, found with the MODIS land-cover product
MCD12Q1. Here any categorical raster in any CRS will do:

- MODIS MCD12Q1 (IGBP classification, ``LC_Type1``): croplands are class 12 and cropland/natural
  vegetation mosaics class 14 (:data:`IGBP_CROPLAND`, the default);
- USDA Cropland Data Layer (CDL, 30 m, EPSG:5070): soybeans are class 5 and corn class 1.

:func:`county_crop_centres` works at the raster's own resolution, in its own CRS: the county polygons
are rasterized onto the land-cover pixels, and each county's crop centre is the centroid of the crop
pixels inside its polygon (moved to the cube grid's CRS afterwards). A very large raster (a 30 m CDL
mosaic) is read in strips and counted in whole-number blocks of at most a quarter of a grid pixel, so
the centroid then weighs blocks by their crop fraction.

:func:`county_anchors` places each county's anchor at the grid pixel of the county nearest its crop
centre (so the anchor stays inside the county, as the simulation does). A county with no crop pixel, or
every county when there is no land-cover raster, falls back to the polygon's interior point (shapely
``representative_point``); the ``anchor_source`` column says which. Anchors are clipped so that the
whole anchor tile lies on the grid.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
from affine import Affine
from pyproj import Transformer
from rasterio.features import rasterize
from rasterio.warp import transform as transform_points
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geoapp.data.args import as_int, as_path, given
from geoapp.data.grid import Grid
from geoapp.data.ingest.reproject import raster_file_error
from geoapp.data.simulate import county_raster
from geoapp.errors import CRSError, DataFileError, InputError

__all__ = [
    "IGBP_CROPLAND",
    "CDL_SOYBEANS",
    "CDL_CORN",
    "ANCHOR_SOURCES",
    "COUNTY_COLUMNS",
    "parse_crop_codes",
    "county_crop_centres",
    "county_anchors",
]

IGBP_CROPLAND: tuple[int, ...] = (12, 14)
"""MCD12Q1 ``LC_Type1`` (IGBP) classes that hold crops: 12 croplands, 14 cropland/natural mosaics."""

CDL_SOYBEANS = 5
"""USDA Cropland Data Layer class of soybeans."""

CDL_CORN = 1
"""USDA Cropland Data Layer class of corn."""

ANCHOR_SOURCES: tuple[str, ...] = ("cropland", "interior")
"""Where an anchor comes from: the county's crop centre, or its polygon's interior point (fallback)."""

COUNTY_COLUMNS: tuple[str, ...] = (
    "geoid",
    "name",
    "state",
    "n_pixels",
    "cropland_km2",
    "anchor_row",
    "anchor_col",
    "anchor_lat",
    "anchor_lon",
    "anchor_source",
)
"""Columns of the table :func:`county_anchors` returns (the simulated counties.csv plus anchor_source)."""

MAX_READ_PIXELS = 2**24
"""Largest source window read at full resolution; larger ones are block-averaged in strips."""


def parse_crop_codes(codes: Sequence[int] | str) -> tuple[int, ...]:
    """Crop class codes as a sorted tuple of ints, from a sequence or text such as ``"12,14"``.

    Raises:
        InputError: empty, or an entry that is not a whole number.
    """
    if not isinstance(codes, str | Sequence) or isinstance(codes, bytes):
        raise InputError(f"crop codes must be text such as '12,14' or a list of whole numbers, got {type(codes).__name__}")
    items = [c.strip() for c in codes.split(",")] if isinstance(codes, str) else list(codes)
    out: list[int] = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value == int(value)):
            raise InputError(f"crop code {item!r} is not a whole number; expected class codes such as 12,14 (IGBP) or 5 (CDL)")
        out.append(int(value))
    if not out:
        raise InputError(f"no crop codes given ({codes!r}); expected e.g. 12,14 for IGBP croplands or 5 for CDL soybeans")
    return tuple(sorted(set(out)))


# ---- the crop fraction on the grid ----------------------------------------------------------


def _check_counties(counties: object, columns: Sequence[str]) -> gpd.GeoDataFrame:
    """Refuse anything but a GeoDataFrame of county polygons with ``columns`` and a CRS."""
    if not isinstance(counties, gpd.GeoDataFrame):
        raise InputError(
            f"counties must be a GeoDataFrame of county polygons with {', '.join(repr(c) for c in columns)} "
            f"(e.g. from geoapp.data.counties.load_counties), got {given(counties)}"
        )
    missing = [c for c in columns if c not in counties.columns]
    try:
        geometry = counties.geometry
    except AttributeError:
        geometry = None
        missing.append("geometry")
    if missing:
        raise InputError(f"counties lack the column(s) {missing}; expected county polygons with {list(columns)}")
    if geometry is not None and len(counties) and geometry.crs is None:
        raise InputError("counties have no CRS, so geoapp cannot tell where they lie; set one (e.g. EPSG:4326)")
    return counties


def _check_grid(grid: object) -> Grid:
    if not isinstance(grid, Grid):
        raise InputError(f"grid must be a geoapp.data.grid.Grid, got {type(grid).__name__}")
    return grid


def county_crop_centres(
    path: str | os.PathLike[str], counties: gpd.GeoDataFrame, grid: Grid, crop_codes: Sequence[int] = IGBP_CROPLAND
) -> pd.DataFrame:
    """The centroid and area of the crop pixels of a land-cover raster inside each county polygon.

    Args:
        path: a GeoTIFF or NetCDF land-cover raster in any CRS (band 1 is read), integer class codes.
        counties: polygons with ``geoid`` (any CRS).
        grid: the cube grid (EPSG:5070 metres by default); only the raster's part under it is read.
        crop_codes: classes that count as crop (default IGBP 12 and 14).

    Returns:
        DataFrame, one row per county in input order: ``geoid``, ``crop_pixels`` (land-cover pixels of a
        crop class inside the polygon), ``cropland_km2`` (their area, from the pixel size in grid metres at
        the raster's centre), ``centre_x`` / ``centre_y`` (their centroid in grid CRS metres; NaN without crop).

    Raises:
        CRSError: the raster has no CRS, or does not overlap the grid.
        InputError: the values are not class codes, or no pixel over the grid is a crop class; ``counties``
            is not a GeoDataFrame with ``geoid`` and polygons in a CRS, ``grid`` not a Grid.
        DataFileError: the file is missing or unreadable.
    """
    path = as_path(path, "cropland")
    _check_grid(grid)
    counties = _check_counties(counties, ("geoid",))
    codes = parse_crop_codes(crop_codes)
    where = f"cropland raster {path.name!r}"
    with _open(path, where) as src:
        if src.crs is None:
            raise CRSError(
                f"{where} has no CRS, so geoapp cannot tell where it lies; embed one (e.g. "
                f"`gdal_edit.py -a_srs EPSG:5070 {path.name}` for a CDL, or the MODIS sinusoidal "
                f"'+proj=sinu +R=6371007.181' for MCD12Q1) or put a .prj file beside it"
            )
        window = _window_over_grid(src, grid, where)
        pixel_m = _pixel_size_m(src, window, grid)
        factor = _block_factor(window, pixel_m, grid)
        crop, counts = _read_crop_counts(src, window, factor, codes, where)
        src_crs = src.crs
        transform = src.transform @ Affine.translation(window.col_off, window.row_off) @ Affine.scale(factor)
    if not crop.any():
        common = ", ".join(f"{code} ({n} px)" for code, n in sorted(counts.items(), key=lambda kv: -kv[1])[:8])
        raise InputError(
            f"{where} has no pixel of crop class(es) {list(codes)} over the study area; the classes found there "
            f"are {common or 'none (all nodata)'}. Pass the right crop codes: 12,14 for IGBP croplands (MCD12Q1 "
            f"LC_Type1), 5 for soybeans or 1 for corn in a USDA CDL"
        )
    geoms = counties.geometry.to_crs(src_crs)
    shapes = ((g, i) for i, g in enumerate(geoms) if g is not None and not g.is_empty)
    index = rasterize(shapes, out_shape=crop.shape, transform=transform, fill=-1, dtype="int32").ravel()
    inside = index >= 0
    ids, weight = index[inside], crop.ravel()[inside].astype(np.float64)
    rows, cols = np.divmod(np.flatnonzero(inside), crop.shape[1])
    row_at = _block_centres(crop.shape[0], int(window.height), factor)
    col_at = _block_centres(crop.shape[1], int(window.width), factor)
    n = len(counties)
    total = np.bincount(ids, weights=weight, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        col_bar = np.bincount(ids, weights=weight * col_at[cols], minlength=n) / total
        row_bar = np.bincount(ids, weights=weight * row_at[rows], minlength=n) / total
    t = transform
    sx, sy = t.a * col_bar + t.b * row_bar + t.c, t.d * col_bar + t.e * row_bar + t.f
    has = total > 0
    gx, gy = np.full(n, np.nan), np.full(n, np.nan)
    if has.any():
        tx, ty = transform_points(src_crs, grid.crs, np.asarray(sx)[has].tolist(), np.asarray(sy)[has].tolist())
        gx[has], gy[has] = tx, ty
    return pd.DataFrame(
        {
            "geoid": counties["geoid"].to_numpy(),
            "crop_pixels": total,
            "cropland_km2": total * pixel_m**2 / 1e6,
            "centre_x": gx,
            "centre_y": gy,
        }
    )


@contextmanager
def _open(path: Path, where: str) -> Iterator[rasterio.io.DatasetReader]:
    """Open ``path`` with rasterio; a missing or unreadable file becomes :class:`DataFileError`."""
    if not path.is_file():
        raise DataFileError(f"{where} not found (looked for {str(path)!r})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(path)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise raster_file_error(path, where, exc, expected=_EXPECTED) from exc
    with src:
        if src.count == 0:
            names = [s.rsplit(":", 1)[-1] for s in src.subdatasets]
            if not names:
                raise raster_file_error(path, where, rasterio.errors.RasterioIOError("no raster band"), expected=_EXPECTED)
            raise InputError(
                f"{where} holds several variables ({', '.join(names)}); the land-cover map must be a file of one "
                f'variable: extract it, e.g. `gdal_translate NETCDF:"{path.name}":{names[0]} landcover.tif`'
            )
        yield src


_EXPECTED = "a GeoTIFF or NetCDF land-cover map of class codes"


def _window_over_grid(src: rasterio.io.DatasetReader, grid: Grid, where: str) -> Window:
    """The source pixels under the grid (plus one pixel around), clipped to the raster."""
    try:
        gx0, gy0, gx1, gy1 = transform_bounds(grid.crs, src.crs, grid.xmin, grid.ymin, grid.xmax, grid.ymax, densify_pts=21)
    except Exception:  # noqa: BLE001 - PROJ raises several types outside a projection's domain
        gx0 = gy0 = gx1 = gy1 = math.nan
    (sx0, sx1), (sy0, sy1) = sorted(src.bounds[0::2]), sorted(src.bounds[1::2])  # south-up: bottom above top
    x0, y0, x1, y1 = max(gx0, sx0), max(gy0, sy0), min(gx1, sx1), min(gy1, sy1)
    if not (all(math.isfinite(v) for v in (x0, y0, x1, y1)) and x1 > x0 and y1 > y0):
        raise CRSError(
            f"{where} does not overlap the cube grid: it covers ({sx0:.6g}, {sy0:.6g}, {sx1:.6g}, {sy1:.6g}) in "
            f"{src.crs.to_string()[:60]}; is its CRS right, and does it cover the chosen states?"
        )
    inv = ~src.transform
    corners = [inv @ (x, y) for x in (x0, x1) for y in (y0, y1)]
    c0 = max(0, math.floor(min(c for c, _ in corners)) - 1)
    r0 = max(0, math.floor(min(r for _, r in corners)) - 1)
    c1 = min(src.width, math.ceil(max(c for c, _ in corners)) + 1)
    r1 = min(src.height, math.ceil(max(r for _, r in corners)) + 1)
    return Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))


def _pixel_size_m(src: rasterio.io.DatasetReader, window: Window, grid: Grid) -> float:
    """Side of one source pixel in grid metres (geometric mean of width and height) at the window centre."""
    t = src.transform
    col, row = window.col_off + window.width / 2, window.row_off + window.height / 2
    pts = [t @ (col, row), t @ (col + 1, row), t @ (col, row + 1)]
    xs, ys = transform_points(src.crs, grid.crs, [p[0] for p in pts], [p[1] for p in pts])
    size = math.sqrt(math.hypot(xs[1] - xs[0], ys[1] - ys[0]) * math.hypot(xs[2] - xs[0], ys[2] - ys[0]))
    return size if math.isfinite(size) and size > 0 else grid.resolution_m


def _block_factor(window: Window, pixel_m: float, grid: Grid) -> int:
    """Whole-number block size to count in: 1 unless the window is very large.

    Blocks never grow past a quarter of a grid pixel, so the crop centre keeps sub-pixel detail.
    """
    n = float(window.width) * float(window.height)
    if n <= MAX_READ_PIXELS:
        return 1
    for_memory = math.ceil(math.sqrt(n / MAX_READ_PIXELS))
    for_quality = math.floor(grid.resolution_m / (4.0 * pixel_m))
    return max(1, min(for_memory, for_quality))


def _read_crop_counts(
    src: rasterio.io.DatasetReader, window: Window, factor: int, codes: tuple[int, ...], where: str
) -> tuple[np.ndarray, dict[int, int]]:
    """Crop-pixel counts per ``factor`` x ``factor`` block of ``window`` (band 1; nodata never counts).

    Returns:
        (crop counts float32 of shape (ceil(h / factor), ceil(w / factor)), the count of every class code
        found over the window).
    """
    h, w = int(window.height), int(window.width)
    out_h, out_w = -(-h // factor), -(-w // factor)
    crop = np.zeros((out_h, out_w), dtype=np.float32)
    counts: dict[int, int] = {}
    strip = max(factor, (MAX_READ_PIXELS // max(w, 1)) // factor * factor)
    for r in range(0, h, strip):
        win = Window(window.col_off, window.row_off + r, w, min(strip, h - r))
        try:
            data = src.read(1, window=win)
            ok = src.read_masks(1, window=win) > 0
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise raster_file_error(src.name, where, exc, reading=True, expected=_EXPECTED) from exc
        if data.dtype.kind == "f":
            ok &= np.isfinite(data)
            if (data[ok] != np.round(data[ok])).any():
                raise InputError(
                    f"{where} holds fractional values (e.g. {float(data[ok][data[ok] != np.round(data[ok])][0]):g}); "
                    f"expected a categorical land-cover map of whole class codes (MCD12Q1 LC_Type1, USDA CDL)"
                )
        values, n = np.unique(data[ok], return_counts=True)
        for v, k in zip(values.tolist(), n.tolist(), strict=True):
            counts[int(v)] = counts.get(int(v), 0) + int(k)
        is_crop = (np.isin(data, codes) & ok).astype(np.float32)
        rows = slice(r // factor, r // factor + -(-data.shape[0] // factor))
        crop[rows] = _block_sum(is_crop, factor)
    return crop, counts


def _block_centres(n_blocks: int, n_pixels: int, factor: int) -> np.ndarray:
    """Centre of each block along one axis, in block units (block i spans i to i + 1), shape (n_blocks,).

    Every block is ``factor`` source pixels wide but the last, which holds what is left of the
    ``n_pixels`` (the rest of it lies off the raster): its centre is that of the pixels it holds, not of
    the whole block, so its crop pixels are not placed up to half a block too far out.
    """
    centres = np.arange(n_blocks, dtype=np.float64) + 0.5
    if n_blocks:
        last = n_pixels - (n_blocks - 1) * factor  # source pixels in the last block, 1..factor
        centres[-1] = (n_blocks - 1) + last / (2.0 * factor)
    return centres


def _block_sum(data: np.ndarray, factor: int) -> np.ndarray:
    """Sum of each ``factor`` x ``factor`` block (zero-padded at the edges)."""
    if factor == 1:
        return data
    h, w = data.shape
    ph, pw = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.zeros((ph, pw), dtype=np.float32)
    padded[:h, :w] = data
    return padded.reshape(ph // factor, factor, pw // factor, factor).sum(axis=(1, 3))


# ---- anchors ---------------------------------------------------------------------------------


def county_anchors(counties: gpd.GeoDataFrame, grid: Grid, tile_px: int, centres: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each county's pixel count, cropland area and anchor pixel (crop centre, or interior point).

    Args:
        counties: polygons with ``geoid``, ``name``, ``state`` (any CRS; EPSG:4326 from load_counties).
        grid: the cube grid.
        tile_px: anchor tile size in pixels; anchors are clipped so the tile lies whole on the grid.
        centres: :func:`county_crop_centres` of the same counties, in the same order; None places every
            anchor at the interior point.

    Returns:
        DataFrame with :data:`COUNTY_COLUMNS`, one row per county in input order: ``n_pixels`` (grid pixel
        centres inside the polygon), ``cropland_km2`` (crop area in km^2; NaN without ``centres``),
        ``anchor_row``/``anchor_col`` (grid pixel), ``anchor_lat``/``anchor_lon`` (its centre, degrees
        EPSG:4326) and ``anchor_source`` (``"cropland"`` or ``"interior"``).
    """
    counties = _check_counties(counties, ("geoid", "name", "state"))
    h, w = _check_grid(grid).shape
    tile_px = as_int(tile_px, "tile_px")
    if centres is not None and not (
        isinstance(centres, pd.DataFrame) and {"geoid", "crop_pixels", "centre_x", "centre_y"} <= set(centres.columns)
    ):
        raise InputError(
            f"centres must be None or the DataFrame county_crop_centres() returns (geoid, crop_pixels, centre_x, "
            f"centre_y), got {given(centres)}"
        )
    if tile_px < 1 or tile_px > min(h, w):
        raise InputError(f"tile of {tile_px} px does not fit the {h} x {w} px grid; use a smaller tile or a larger area")
    n = len(counties)
    if centres is not None and centres["geoid"].tolist() != counties["geoid"].tolist():
        raise InputError("crop centres and counties differ; compute the centres for these counties, in this order")
    has_crop = np.zeros(n, dtype=bool) if centres is None else (centres["crop_pixels"].to_numpy() > 0)
    # the point to anchor at, in grid metres: the crop centre, or the polygon's interior point
    x, y = np.empty(n), np.empty(n)
    if has_crop.any():
        x[has_crop], y[has_crop] = centres["centre_x"].to_numpy()[has_crop], centres["centre_y"].to_numpy()[has_crop]
    if not has_crop.all():
        points = counties.geometry[~has_crop].representative_point().to_crs(grid.crs)
        x[~has_crop], y[~has_crop] = points.x.to_numpy(), points.y.to_numpy()
    # continuous (row, col) of the point; the anchor is the county's grid pixel nearest to it
    pr, pc = (grid.ymax - y) / grid.resolution_m - 0.5, (x - grid.xmin) / grid.resolution_m - 0.5
    index = county_raster(counties, grid).ravel()
    inside = index >= 0
    ids = index[inside]
    rows, cols = np.divmod(np.flatnonzero(inside), w)
    n_pix = np.bincount(ids, minlength=n)
    anchor_row = np.clip(np.floor(pr + 0.5), -1, h).astype(np.int64)
    anchor_col = np.clip(np.floor(pc + 0.5), -1, w).astype(np.int64)
    if len(ids):
        d2 = (rows - pr[ids]) ** 2 + (cols - pc[ids]) ** 2
        order = np.lexsort((d2, ids))
        first = np.searchsorted(ids[order], np.arange(n))
        has = n_pix > 0
        anchor_row[has] = rows[order][first[has]]
        anchor_col[has] = cols[order][first[has]]
    half = tile_px // 2
    placed = anchor_row.copy(), anchor_col.copy()
    anchor_row = np.clip(anchor_row, half, h - tile_px + half)
    anchor_col = np.clip(anchor_col, half, w - tile_px + half)
    moved = int(((anchor_row != placed[0]) | (anchor_col != placed[1])).sum())
    if n and moved > max(1, n // 10):  # a few at the grid's edge are expected; many mean a tile too large for the grid
        warnings.warn(
            f"{moved} of {n} county anchors were moved away from their cropland to keep their {tile_px} px tile "
            f"({tile_px * grid.resolution_m / 1000:g} km) whole on the {h} x {w} px grid; a smaller tile_px keeps "
            "them where their crops are",
            UserWarning,
            stacklevel=2,
        )

    to_geo = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform(grid.x[anchor_col], grid.y[anchor_row])
    return pd.DataFrame(
        {
            "geoid": counties["geoid"].to_numpy(),
            "name": counties["name"].to_numpy(),
            "state": counties["state"].to_numpy(),
            "n_pixels": n_pix,
            "cropland_km2": centres["cropland_km2"].to_numpy() if centres is not None else np.full(n, np.nan),
            "anchor_row": anchor_row,
            "anchor_col": anchor_col,
            "anchor_lat": np.asarray(lat, dtype=float),
            "anchor_lon": np.asarray(lon, dtype=float),
            "anchor_source": np.where(has_crop, "cropland", "interior"),
        },
        columns=list(COUNTY_COLUMNS),
    )
