"""Square tiles cut from a cube around a pixel (a county's anchor), and their per-month means.

A tile of size ``tile_px`` centred at (row, col) covers rows ``row - tile_px // 2`` to
``row - tile_px // 2 + tile_px - 1`` (likewise for columns); it is shifted, never cropped, to stay on
the grid, so every tile has the full size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geoapp.data.args import as_int, given
from geoapp.data.bands import BAND_INFO, BANDS, MONTHS, check_bands
from geoapp.data.cube_store import read_slab
from geoapp.data.dataset import YieldDataset, dataset_year
from geoapp.errors import InputError

__all__ = ["tile_origin", "county_anchor", "county_monthly_inputs", "anchor_tile_means"]


def tile_origin(row: int, col: int, tile_px: int, grid_shape: tuple[int, int]) -> tuple[int, int]:
    """Upper-left (row0, col0) of the ``tile_px`` tile centred at (row, col), shifted onto the grid.

    Raises:
        InputError: ``row``/``col`` not whole numbers, ``tile_px`` not a whole number of at least 1,
            ``grid_shape`` not (height, width) in whole pixels, or a tile larger than the grid.
    """
    row, col = as_int(row, "row"), as_int(col, "col")
    tile_px = as_int(tile_px, "tile_px", minimum=1)
    if not (isinstance(grid_shape, (tuple, list)) and len(grid_shape) == 2):
        raise InputError(f"grid_shape must be (height, width) in pixels, got {given(grid_shape)}")
    h, w = (as_int(n, "grid_shape entry", minimum=1) for n in grid_shape)
    if tile_px > min(h, w):
        raise InputError(f"tile of {tile_px} px does not fit the {h}x{w} grid")
    r0 = int(np.clip(row - tile_px // 2, 0, h - tile_px))
    c0 = int(np.clip(col - tile_px // 2, 0, w - tile_px))
    return r0, c0


def county_anchor(ds: YieldDataset, geoid: str) -> pd.Series:
    """The county table row of ``geoid`` (anchor_row, anchor_col, name, ...).

    ``geoid`` is the 5-digit code as text (``"19153"``); a whole number is read as that code with its
    leading zeros (``1001`` is ``"01001"``).

    Raises:
        InputError: ``ds`` is not a loaded dataset, ``geoid`` neither text nor a whole number in
            0..99999, or the county is not in the dataset.
    """
    _check_dataset(ds)
    if isinstance(geoid, int | np.integer) and not isinstance(geoid, bool | np.bool_) and 0 <= geoid <= 99999:
        geoid = f"{int(geoid):05d}"
    if not isinstance(geoid, str):
        raise InputError(f"geoid must be a 5-digit county code (state FIPS + county FIPS) as text, got {given(geoid)}")
    rows = ds.counties[ds.counties["geoid"] == geoid]
    if rows.empty:
        raise InputError(f"county {geoid!r} is not in dataset {ds.name!r} (geoid: 5-digit state+county FIPS)")
    return rows.iloc[0]


def county_monthly_inputs(ds: YieldDataset, geoid: str, year: int) -> pd.DataFrame:
    """Mean of each band over the county's anchor tile, per month of ``year``.

    Returns:
        Long DataFrame with columns ``band``, ``units``, ``month`` (3..9) and ``value`` (band units),
        NaN pixels skipped.

    Raises:
        InputError: ``ds`` is not a loaded dataset, the county is not in it (:func:`county_anchor`), or
            ``year`` is not a whole year it holds (:func:`~geoapp.data.dataset.dataset_year`).
    """
    _check_dataset(ds)
    year = dataset_year(ds, year)
    anchor = county_anchor(ds, geoid)
    r0, c0 = tile_origin(int(anchor["anchor_row"]), int(anchor["anchor_col"]), ds.tile_px, ds.grid.shape)
    window = {"y": slice(r0, r0 + ds.tile_px), "x": slice(c0, c0 + ds.tile_px)}
    rows = []
    for band in BANDS:
        da = ds.cube[band].isel(window)
        if BAND_INFO[band].static:
            values = np.repeat(float(da.mean(skipna=True)), len(MONTHS))
        else:
            values = da.sel(year=int(year)).mean(dim=("y", "x"), skipna=True).values
        for month, value in zip(MONTHS, values, strict=True):
            rows.append({"band": band, "units": BAND_INFO[band].units, "month": month, "value": float(value)})
    return pd.DataFrame(rows)


_TILE_MEANS: dict[tuple[object, ...], np.ndarray] = {}
"""The last few results of :func:`anchor_tile_means`, keyed by the dataset's files (a pass reads the whole cube)."""
_TILE_MEANS_KEEP = 2


def anchor_tile_means(ds: YieldDataset, bands: tuple[str, ...] = BANDS) -> np.ndarray:
    """Mean of every band over every county's anchor tile, for every year and month.

    One pass reads the whole cube, a year of a band at a time (seconds on the demo data), so the result is kept in memory for the
    process, keyed by the dataset folder, its card's fingerprint and the cube's and counties' size and
    modification time: a rebuilt dataset is read again.

    Returns:
        float32 array of shape (years, counties, months, bands), in the order of ``ds.years``,
        ``ds.counties`` rows, :data:`MONTHS` and ``bands``; NaN pixels skipped. Read-only (shared).

    Raises:
        InputError: ``ds`` is not a loaded dataset, or ``bands`` not a list or tuple of known bands.
    """
    _check_dataset(ds)
    bands = check_bands(bands)
    key = (str(ds.root.resolve()), ds.fingerprint, tuple(bands), *_file_stamp(ds.root / "cube.nc"))
    key += _file_stamp(ds.root / "counties.csv")
    if key not in _TILE_MEANS:
        means = _anchor_tile_means(ds, tuple(bands))
        means.setflags(write=False)
        while len(_TILE_MEANS) >= _TILE_MEANS_KEEP:
            _TILE_MEANS.pop(next(iter(_TILE_MEANS)))
        _TILE_MEANS[key] = means
    return _TILE_MEANS[key]


def _check_dataset(ds: object) -> None:
    if not isinstance(ds, YieldDataset):
        raise InputError(f"ds must be a dataset from load_dataset, got {given(ds)}; load it with load_dataset(<folder>)")


def _file_stamp(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of a file, or (-1, -1) when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _anchor_tile_means(ds: YieldDataset, bands: tuple[str, ...]) -> np.ndarray:
    """:func:`anchor_tile_means` computed afresh."""
    h, w = ds.grid.shape
    tile = ds.tile_px
    origins = [
        tile_origin(int(r), int(c), tile, (h, w))
        for r, c in zip(ds.counties["anchor_row"], ds.counties["anchor_col"], strict=True)
    ]
    out = np.empty((len(ds.years), len(origins), len(MONTHS), len(bands)), dtype=np.float32)
    r0 = np.array([o[0] for o in origins])
    c0 = np.array([o[1] for o in origins])
    r1, c1 = r0 + tile, c0 + tile

    def box(a: np.ndarray) -> np.ndarray:
        """Sum over every tile from a zero-padded 2-D cumulative sum (last two axes)."""
        return a[..., r1, c1] - a[..., r0, c1] - a[..., r1, c0] + a[..., r0, c0]

    def tile_means(values: np.ndarray) -> np.ndarray:
        """Mean over every tile of (..., H, W) values, NaN skipped: (..., counties)."""
        # Box sums via a 2-D cumulative sum: every tile mean in O(1) after one pass.
        finite = np.isfinite(values)
        csum = np.cumsum(np.cumsum(np.where(finite, values, 0.0), axis=-2, dtype=np.float64), axis=-1)
        ccnt = np.cumsum(np.cumsum(finite, axis=-2, dtype=np.float64), axis=-1)
        csum = np.pad(csum, [(0, 0)] * (csum.ndim - 2) + [(1, 0), (1, 0)])
        ccnt = np.pad(ccnt, [(0, 0)] * (ccnt.ndim - 2) + [(1, 0), (1, 0)])
        with np.errstate(invalid="ignore", divide="ignore"):
            return box(csum) / box(ccnt)

    for j, band in enumerate(bands):  # one year of one band in memory at a time
        da = ds.cube[band]
        if BAND_INFO[band].static:
            out[..., j] = tile_means(read_slab(da))[None, :, None]
            continue
        for k in range(len(ds.years)):
            out[k, :, :, j] = tile_means(read_slab(da, year=k)).T  # (month, county) -> (county, month)
    return out
