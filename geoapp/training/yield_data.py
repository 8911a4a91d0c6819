"""Tensors for crop-yield training: standardised cube, labelled examples, anchor and context tiles.

The cube is standardised per month and band with statistics of the training years only (the paper
standardises each month separately; the statistics stream over the file, :func:`band_stats`).
Missing pixels (NaN) become 0 after standardisation, i.e. the training mean, and are counted, so a
NaN never reaches a prediction silently. Examples are the labelled (county, year) pairs.

Tiles are read through a cache sized in MB (``cache_mb``; default :data:`DEFAULT_TILE_CACHE_MB`, or
the environment variable ``GEOAPP_TILE_CACHE_MB``):

- when the standardised (year, month, band, y, x) float32 array of the loaded years fits, it is read
  once, a year of a band at a time, and tiles are cut from memory with
  :func:`geoapp.samplers.gather_tiles` (no per-example Python loop): the demo data;
- otherwise tiles are read out of core through a :class:`~geoapp.data.tile_cache.BlockCache` of
  standardised blocks aligned with the cube's chunks, least recently used dropped first: a tile read
  touches only the chunks under it, and memory stays under the cache size (the paper-size cube).

Both give the same tiles.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from geoapp.data.args import as_number, given
from geoapp.data.bands import BANDS, STATIC_BANDS, check_bands, group_bands
from geoapp.data.cube import band_stats, dask_compute, open_cube
from geoapp.data.cube_store import DEFAULT_CHUNK_PX, chunk_px_of, read_slab
from geoapp.data.dataset import YieldDataset, dataset_year
from geoapp.data.tile_cache import BlockCache
from geoapp.errors import InputError
from geoapp.samplers import QuadrupletSampler, gather_tiles

__all__ = [
    "Examples",
    "YieldTileSource",
    "TEMPORAL_NEIGHBOURS",
    "DEFAULT_TILE_CACHE_MB",
    "tile_cache_mb",
    "check_dataset_arg",
    "dataset_year",
    "dataset_years",
]

DEFAULT_TILE_CACHE_MB = 2048.0
"""Default tile cache size in MB: holds the whole demo cube (about 920 MB standardised), a slice of the paper's."""

CACHE_ENV = "GEOAPP_TILE_CACHE_MB"
"""Environment variable that sets the tile cache size in MB for every training and evaluation."""


def tile_cache_mb() -> float:
    """The tile cache size in MB: ``GEOAPP_TILE_CACHE_MB`` when set, else :data:`DEFAULT_TILE_CACHE_MB`.

    Raises:
        InputError: the variable is set to something other than a positive number.
    """
    text = os.environ.get(CACHE_ENV, "").strip()
    if not text:
        return DEFAULT_TILE_CACHE_MB
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{CACHE_ENV} must be a positive number of MB such as 4096, got {text!r}")
    return value


TEMPORAL_NEIGHBOURS = ("month", "year")
"""What TN, "the same place one time step earlier", means: the previous month (the paper) or year."""


def check_dataset_arg(ds: object) -> None:
    """Refuse a dataset argument that is not a loaded dataset (None, a path, a DataFrame)."""
    if not isinstance(ds, YieldDataset):
        raise InputError(
            f"ds must be a dataset from geoapp.data.dataset.load_dataset, got {given(ds)}; "
            "load it with load_dataset(<dataset folder>)"
        )


def dataset_years(ds: YieldDataset, years: object, name: str = "years") -> list[int]:
    """``years`` (a list, tuple or range of whole years the dataset holds) as a list of ints.

    A single year (``2015`` rather than ``[2015]``), text, floats and bools are refused, never
    converted; an empty list is returned as it is.

    Raises:
        InputError: naming ``name``, what was given and what was expected (:func:`dataset_year` for each year).
    """
    check_dataset_arg(ds)
    if not isinstance(years, (list, tuple, range)):
        raise InputError(f"{name} must be a list of whole years such as [2015], got {given(years)}")
    return [dataset_year(ds, y) for y in years]


@dataclass(frozen=True)
class Examples:
    """Labelled examples: county row index, year index into the cube, and yield (bu/acre)."""

    county: np.ndarray  # (N,) int, row of ds.counties
    year: np.ndarray  # (N,) int, index into ds.years
    target: np.ndarray  # (N,) float32, bu/acre

    def __len__(self) -> int:
        return len(self.county)


class YieldTileSource:
    """The standardised cube of a dataset and the tiles of its examples.

    Args:
        ds: an open dataset.
        train_years: years whose statistics standardise every year (ignored when ``stats`` is given).
        bands: band order of the channel axis (default: all nine).
        stats: (mean, std), each (T, C), e.g. from a checkpoint card (skips computing them).
        years: the years to load (default: all); examples of other years cannot be cut. A year the
            dataset lacks is an InputError naming the years it holds (:func:`dataset_year`).
        cache_mb: tile cache size in MB (default :func:`tile_cache_mb`); see the module docstring.

    Raises:
        InputError: an argument of the wrong type: ``ds`` not a loaded dataset, years not lists of whole
            years of the dataset, unknown bands, ``stats`` not a (mean, std) pair of (T, C) arrays.

    Attributes:
        years: the loaded years, in the order of the cube's first axis.
        cube: the standardised (Y, T, C, H, W) float32 array of the loaded years when it fits the
            cache, else None (tiles are then read through :attr:`cache`).
        cache: the :class:`~geoapp.data.tile_cache.BlockCache` of out-of-core reads, else None.
    """

    def __init__(
        self,
        ds: YieldDataset,
        train_years: list[int] | None,
        bands: tuple[str, ...] = BANDS,
        stats: tuple[np.ndarray, np.ndarray] | None = None,
        years: list[int] | None = None,
        cache_mb: float | None = None,
    ) -> None:
        check_dataset_arg(ds)
        self.ds = ds
        self.bands = check_bands(bands)
        self.tile_px = ds.tile_px
        if stats is None:
            if train_years is None or (isinstance(train_years, (list, tuple, range)) and not train_years):
                raise InputError("standardising needs training years or precomputed (mean, std) statistics")
            train_years = dataset_years(ds, train_years, "train_years")
            computed = band_stats(ds.cube, train_years, bands=self.bands)
            stats = (computed["mean"].values, computed["std"].values)
        self.mean, self.std = _stats(stats, (len(ds.cube["month"]), len(self.bands)))  # (T, C) each
        years = list(ds.years) if years is None else dataset_years(ds, years)
        if not years:
            raise InputError("years is empty; expected the years to load (or None for all)")
        self.years = years  # the loaded years
        self._position = np.full(len(ds.years), -1, dtype=np.int64)  # ds.years index -> row of the loaded years
        for row, y in enumerate(years):
            self._position[ds.years.index(y)] = row
        self.anchors = ds.counties[["anchor_row", "anchor_col"]].to_numpy(dtype=np.int64)
        self.grid_shape: tuple[int, int] = ds.grid.shape
        self.cache_mb = tile_cache_mb() if cache_mb is None else as_number(cache_mb, "cache_mb", "MB")
        shape = (len(years), *self.mean.shape, *self.grid_shape)  # (Y, T, C, H, W)
        self._reader: xr.Dataset | None = None
        self._n_missing: int | None = None
        self.cache: BlockCache | None = None
        self.cube: np.ndarray | None = None  # the standardised loaded years, when they fit the cache
        if 4 * math.prod(shape) <= self.cache_mb * 1e6:
            self.cube = self._read_all(shape)
        else:
            chunk = min(chunk_px_of(ds.cube))
            block = chunk if chunk < min(self.grid_shape) else DEFAULT_CHUNK_PX
            block *= max(1, math.ceil(self.tile_px / block))
            self.cache = BlockCache(self._read_block, shape, block, self.cache_mb)

    @property
    def n_missing(self) -> int:
        """Pixel values (over loaded years, months and bands) that were missing and filled with the training mean."""
        if self._n_missing is None:
            self._n_missing = self._count_missing()
        return self._n_missing

    def _standardise(self, values: np.ndarray, j: int) -> np.ndarray:
        """(T, ...) values of band ``j`` standardised per month (float32), missing values left NaN."""
        shape = (-1,) + (1,) * (values.ndim - 1)
        return (values.astype(np.float32, copy=False) - self.mean[:, j].reshape(shape)) / self.std[:, j].reshape(shape)

    def _read_all(self, shape: tuple[int, ...]) -> np.ndarray:
        """The standardised loaded years (Y, T, C, H, W), read a year of a band at a time (never the whole cube)."""
        out = np.empty(shape, dtype=np.float32)
        n_missing = 0
        reader = self._file_reader()
        for j, band in enumerate(self.bands):
            da = reader[band]
            static = None
            if band in STATIC_BANDS:
                static = read_slab(da)[None].astype(np.float32, copy=False)  # (1, H, W)
            for row, year in enumerate(self.years):
                raw = static if static is not None else read_slab(da, year=self.ds.years.index(year))
                values = self._standardise(np.broadcast_to(raw, shape[1:2] + shape[-2:]), j)
                missing = ~np.isfinite(values)
                n_missing += int(missing.sum())
                values[missing] = 0.0
                out[row, :, j] = values
        self._n_missing = n_missing
        return out

    def _file_reader(self) -> xr.Dataset:
        """The cube opened without dask when it has a file: each slab or block read goes straight to it.

        A slab through dask costs a graph and, in a fresh process, the import of ``dask.distributed``
        (0.3 s for the demo year that a what-if ablation reads, against 0.02 s straight from the file).
        A cube held only in memory is read as it is.
        """
        if self._reader is None:
            source = self.ds.cube.encoding.get("source")
            self._reader = open_cube(source, chunks=None) if source else self.ds.cube
        return self._reader

    def _read_block(self, row: int, rows: slice, cols: slice) -> np.ndarray:
        """One standardised block (T, C, len(rows), len(cols)) of loaded year ``row``, missing values 0."""
        reader = self._file_reader()
        t = len(self.mean)
        year_index = self.ds.years.index(self.years[row])
        out = np.empty((t, len(self.bands), rows.stop - rows.start, cols.stop - cols.start), dtype=np.float32)
        for j, band in enumerate(self.bands):
            da = reader[band]
            if band in STATIC_BANDS:
                raw = read_slab(da, y=rows, x=cols)[None]
            else:
                raw = read_slab(da, year=year_index, y=rows, x=cols)
            values = self._standardise(np.broadcast_to(raw, (t, *raw.shape[-2:])), j)
            values[~np.isfinite(values)] = 0.0
            out[:, j] = values
        return out

    def _count_missing(self) -> int:
        """Missing values over the loaded years, months and bands, counted slot by slot (dask)."""
        total = 0
        idx = [self.ds.years.index(y) for y in self.years]
        for band in self.bands:
            da = self.ds.cube[band]
            if band in STATIC_BANDS:
                (count,) = dask_compute((~np.isfinite(da)).sum())
                total += int(count) * len(self.years) * len(self.mean)
            else:
                (count,) = dask_compute((~np.isfinite(da.isel(year=idx))).sum())
                total += int(count)
        return total

    def tiles(self, origins: np.ndarray, year_index: np.ndarray) -> np.ndarray:
        """Standardised tiles (N, T, C, t, t) float32 at upper-left pixels ``origins`` (N, 2) of dataset year indices (N,)."""
        rows = self._rows(year_index)
        if self.cube is not None:
            return gather_tiles(self.cube, origins, self.tile_px, lead_index=rows)
        return self.cache.gather(origins, self.tile_px, rows)

    def examples(self, years: list[int]) -> Examples:
        """The labelled (county, year) examples of ``years`` (a list of whole years of the dataset)."""
        years = dataset_years(self.ds, years)
        lab = self.ds.labelled()
        lab = lab[lab["year"].isin(years)]
        row_of = {g: i for i, g in enumerate(self.ds.counties["geoid"])}
        county = lab["geoid"].map(row_of).to_numpy(dtype=np.int64)
        year = lab["year"].map({y: i for i, y in enumerate(self.ds.years)}).to_numpy(dtype=np.int64)
        return Examples(county, year, lab["yield"].to_numpy(dtype=np.float32))

    def anchor_tiles(self, ex: Examples, idx: np.ndarray | None = None, mask_group: str | None = None) -> torch.Tensor:
        """Anchor tiles (B, T, C, t, t) of examples ``idx`` (default all).

        ``mask_group`` replaces a feature group's bands by the training mean (0 after
        standardisation): the what-if ablation.
        """
        _check_examples(ex)
        idx = np.arange(len(ex)) if idx is None else _index(idx, len(ex))
        tiles = self.tiles(self._anchor_origins(ex.county[idx]), ex.year[idx])
        out = torch.from_numpy(np.ascontiguousarray(tiles))
        if mask_group is not None:
            channels = [self.bands.index(b) for b in group_bands(mask_group) if b in self.bands]
            out[:, :, channels] = 0.0
        return out

    def _rows(self, year_index: np.ndarray) -> np.ndarray:
        """Rows of the loaded cube for dataset year indices; an error if a year was not loaded."""
        rows = self._position[np.asarray(year_index)]
        if (rows < 0).any():
            missing = sorted({self.ds.years[int(i)] for i in np.asarray(year_index)[rows < 0]})
            raise InputError(f"year(s) {missing!r} were not loaded into this tile source")
        return rows

    def _anchor_origins(self, county: np.ndarray) -> np.ndarray:
        from geoapp.data.tiles import tile_origin

        shape = self.grid_shape
        return np.array(
            [tile_origin(int(r), int(c), self.tile_px, shape) for r, c in self.anchors[county]], dtype=np.int64
        ).reshape(-1, 2)

    def context_tiles(
        self, ex: Examples, idx: np.ndarray, sampler: QuadrupletSampler, generator=None, temporal_neighbour: str = "month"
    ) -> dict[str, torch.Tensor]:
        """Anchor, spatial neighbour, spatial distant and temporal neighbour tiles, each (B, T, C, t, t).

        Also ``tn_valid`` (B, T) bool: False where TN is the anchor itself (no earlier time step).

        ``temporal_neighbour`` sets what "one time step earlier" is (Section IV-E):

        - ``"month"`` (the paper): TN^t = A^(t-1), the same tile one month earlier. The cube's first
          month (March) has no month before it, so TN^1 = A^1 and L_UT^1 = 0 (``tn_valid`` False there).
        - ``"year"``: the same tile and months of the previous year (the sampler's ``tn_year``); in the
          cube's first year TN is the anchor itself.
        """
        if not isinstance(temporal_neighbour, str) or temporal_neighbour not in TEMPORAL_NEIGHBOURS:
            raise InputError(f"temporal_neighbour must be one of {list(TEMPORAL_NEIGHBOURS)!r}, got {given(temporal_neighbour)}")
        _check_examples(ex)
        if not isinstance(sampler, QuadrupletSampler):
            raise InputError(f"sampler must be a geoapp.samplers.QuadrupletSampler, got {given(sampler)}")
        idx = _index(idx, len(ex))
        q = sampler.sample(self.anchors[ex.county[idx]], ex.year[idx], generator=generator)
        cut = {"A": self.tiles(q.anchor, q.year), "SN": self.tiles(q.sn, q.year), "SD": self.tiles(q.sd, q.year)}
        n, t = len(idx), cut["A"].shape[1]
        if temporal_neighbour == "month":
            cut["TN"] = np.concatenate([cut["A"][:, :1], cut["A"][:, :-1]], axis=1)  # month t-1; month 1 repeats
            tn_valid = np.ones((n, t), dtype=bool)
            tn_valid[:, 0] = False
        else:
            cut["TN"] = self.tiles(q.anchor, q.tn_year)
            tn_valid = np.repeat(~q.tn_is_same_year[:, None], t, axis=1)
        out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in cut.items()}
        out["tn_valid"] = torch.from_numpy(tn_valid)
        return out


def _stats(stats: object, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) as float32 arrays of ``shape`` (months, bands); std finite and > 0."""
    if not isinstance(stats, (tuple, list)) or len(stats) != 2:
        raise InputError(f"stats must be a (mean, std) pair of {shape[0]} x {shape[1]} arrays, got {given(stats)}")
    try:
        mean, std = (np.asarray(v, dtype=np.float32) for v in stats)
    except (TypeError, ValueError) as exc:
        raise InputError(f"stats must be a (mean, std) pair of numeric arrays: {exc}") from None
    if mean.shape != shape or std.shape != shape:
        raise InputError(
            f"stats must be a (mean, std) pair of {shape[0]} x {shape[1]} arrays (months x bands), "
            f"got shapes {mean.shape} and {std.shape}"
        )
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise InputError("stats must hold finite means and finite, positive standard deviations")
    return mean, std


def _check_examples(ex: object) -> None:
    if not isinstance(ex, Examples):
        raise InputError(f"ex must be Examples from YieldTileSource.examples(), got {given(ex)}")


def _index(idx: object, n: int) -> np.ndarray:
    """``idx`` as a 1-D int64 array of positions in 0..n-1 (examples to cut)."""
    if isinstance(idx, (str, bytes, bool)) or idx is None:
        raise InputError(f"idx must be an array of example positions, got {given(idx)}")
    arr = np.asarray(idx)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)) or arr.dtype == np.bool_:
        raise InputError(f"idx must be a 1-D array of whole example positions, got {given(idx)}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise InputError(f"idx holds positions outside 0..{n - 1} (the examples given): {int(arr.min())}..{int(arr.max())}")
    return arr.astype(np.int64)
