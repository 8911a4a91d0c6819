"""Land and sea at 1 km, and points sampled on land (uniformly on the sphere, or near-regularly).

The mask is the GLOBE-derived 1 km land mask shipped by PyPI's ``global-land-mask`` (MIT licence):
a (21600, 43200) boolean grid, ``True`` over ocean, rows from 90 N southwards, columns from 180 W
eastwards, 1/120 degree per cell. Most lakes count as land.

Importing ``global_land_mask`` itself decompresses the whole grid into a 933 MB boolean array
(about 5 s). geoapp does not import it: on first use it streams the grid out of the package's
``.npz`` once, packs it to one bit per cell (117 MB) and saves that as
``data_dir()/cache/land_mask_globe_1km_<version>.npy``; later calls memory-map the file, so a lookup
costs microseconds and only the touched pages are read. The lookup is the package's own (nearest
cell, same row/column arithmetic), with longitude wrapping instead of clamping at 180.

Sampling (all arrays of points are (N, 2) float64 ``(lat, lon)`` in degrees, lon in [-180, 180)):

- :func:`sample_land_points`: uniform on the sphere (uniform in sin(lat) and in lon), rejected to land.
- :func:`fibonacci_land_points`: a Fibonacci sphere lattice (near-uniform, quasi-regular spacing)
  kept to land and trimmed to exactly n points.

Both exclude Antarctica (lat < -60) by default: Blue Marble shows it as uniform ice, so patches there
teach an image model little and would crowd a land gallery (Antarctica is ~9% of the land area).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import math
import zipfile
from pathlib import Path

import numpy as np

from geoapp.data.args import as_bool, as_int, given
from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.fileio import atomic_path
from geoapp.paths import REPO_ROOT, data_dir

__all__ = [
    "ANTARCTICA_LAT",
    "MAX_POINTS",
    "is_land",
    "sample_land_points",
    "fibonacci_land_points",
    "fibonacci_sphere",
]

ANTARCTICA_LAT = -60.0
"""Points south of this latitude count as Antarctica (excluded from sampling by default)."""

MAX_POINTS = 50_000_000
"""The most points one call draws or places (land points; a Fibonacci lattice may hold four times as many):
more would not fit in memory, and is refused before anything is allocated."""

_MASK_SHAPE = (21600, 43200)
_CELLS_PER_DEGREE = 120
_PACKED_SHAPE = (_MASK_SHAPE[0], _MASK_SHAPE[1] // 8)
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


# --------------------------------------------------------------------------------------------------
# The mask
# --------------------------------------------------------------------------------------------------


def _package_npz() -> Path:
    """The ``.npz`` that ``global-land-mask`` ships, found without importing the package."""
    spec = importlib.util.find_spec("global_land_mask")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError("the land mask needs the package 'global-land-mask' (pip install global-land-mask==1.0.0)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "globe_combined_mask_compressed.npz"
        if path.is_file():
            return path
    raise MissingDataError(
        "global-land-mask is installed but its globe_combined_mask_compressed.npz is missing; "
        "reinstall it (pip install --force-reinstall global-land-mask==1.0.0)"
    )


def _cache_name() -> str:
    try:
        version = importlib.metadata.version("global-land-mask")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - found by _package_npz
        version = "unknown"
    return f"land_mask_globe_1km_{version}.npy"


def _pack_mask(npz: Path) -> np.ndarray:
    """Stream ``mask.npy`` out of the package's ``.npz`` and pack it to bits (row by row)."""
    try:
        with zipfile.ZipFile(npz) as zf, zf.open("mask.npy") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            if tuple(shape) != _MASK_SHAPE or dtype != np.dtype(bool) or fortran:
                raise DataFileError(
                    f"{npz}: mask.npy is {shape} {dtype} (fortran={fortran}), expected a C-ordered "
                    f"boolean {_MASK_SHAPE} grid; is global-land-mask 1.0.0 installed?"
                )
            packed = np.empty(_PACKED_SHAPE, dtype=np.uint8)
            n_cols = _MASK_SHAPE[1]
            step = 600
            for r0 in range(0, _MASK_SHAPE[0], step):
                n = min(step, _MASK_SHAPE[0] - r0)
                buf = fh.read(n * n_cols)
                if len(buf) != n * n_cols:
                    raise DataFileError(f"{npz}: mask.npy ends early (row {r0}); reinstall global-land-mask")
                rows = np.frombuffer(buf, dtype=np.uint8).reshape(n, n_cols)
                packed[r0 : r0 + n] = np.packbits(rows, axis=1)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DataFileError(f"{npz}: cannot read the land mask ({exc}); reinstall global-land-mask") from exc
    return packed


def _open_packed(path: Path) -> np.ndarray | None:
    """Memory-map a cached packed mask, or None when it is absent or not what we wrote."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if arr.shape != _PACKED_SHAPE or arr.dtype != np.uint8:
        return None
    return arr


@functools.lru_cache(maxsize=1)
def _packed_mask() -> np.ndarray:
    """The bit-packed ocean mask (1 = ocean), memory-mapped from the cache (built on first use).

    Loaded once per process: later changes of ``GEOAPP_DATA_DIR`` reuse it (its content depends only on
    the installed package). A cache in the default data folder is also accepted when the current data
    folder has none, so tests pointed at a temporary folder do not rebuild it.
    """
    name = _cache_name()
    target = data_dir() / "cache" / name
    for candidate in (target, REPO_ROOT / "data" / "cache" / name):
        arr = _open_packed(candidate)
        if arr is not None:
            return arr
    packed = _pack_mask(_package_npz())
    try:
        with atomic_path(target) as tmp:
            np.save(tmp, packed, allow_pickle=False)
    except OSError:
        return packed  # read-only data folder: keep it in memory
    arr = _open_packed(target)
    return packed if arr is None else arr


def _check_lat_lon(lat: np.ndarray, lon: np.ndarray, what: str = "coordinates") -> None:
    bad = ~np.isfinite(lat) | ~np.isfinite(lon)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(
            f"{what}: lat/lon must be finite numbers, got lat={lat.ravel()[i]!r}, lon={lon.ravel()[i]!r} "
            f"at index {i} ({int(bad.sum())} bad in all)"
        )
    out = (lat < -90.0) | (lat > 90.0)
    if out.any():
        i = int(np.flatnonzero(out.ravel())[0])
        raise InputError(
            f"{what}: latitude must lie in [-90, 90] degrees, got {lat.ravel()[i]!r} at index {i}; were lat and lon swapped?"
        )


def is_land(lat, lon) -> np.ndarray | bool:
    """Whether each (lat, lon) in degrees lies on land (1 km GLOBE mask; lakes count as land).

    Vectorised: ``lat`` and ``lon`` are scalars or arrays that broadcast together; returns a bool
    array of the broadcast shape (a Python bool for scalars). Longitude wraps (190 == -170); latitude outside [-90, 90] or NaN
    raises :class:`InputError`.
    """
    lat_d, lon_d = _degrees(lat, "lat"), _degrees(lon, "lon")
    try:
        lat_a, lon_a = np.broadcast_arrays(lat_d, lon_d)
    except ValueError as exc:
        raise InputError(f"lat and lon must be numbers or arrays of one (broadcastable) shape: {exc}") from exc
    _check_lat_lon(lat_a, lon_a)
    packed = _packed_mask()
    rows = np.clip(np.floor((90.0 - lat_a) * _CELLS_PER_DEGREE), 0, _MASK_SHAPE[0] - 1).astype(np.intp)
    cols = np.floor(np.mod(lon_a + 180.0, 360.0) * _CELLS_PER_DEGREE).astype(np.intp)
    cols = np.minimum(cols, _MASK_SHAPE[1] - 1)  # mod can round up to exactly 360
    byte = packed[rows, cols >> 3]
    ocean = (byte >> (7 - (cols & 7)).astype(np.uint8)) & 1
    land = ocean == 0
    return bool(land) if land.ndim == 0 else land


def _degrees(values: object, name: str) -> np.ndarray:
    """Degrees as a float64 array; text (``"40"``), bools and None are refused, never converted."""
    try:
        arr = np.asarray(values, dtype=object if isinstance(values, (str, bytes)) or values is None else None)
    except (TypeError, ValueError):  # ragged lists
        arr = np.asarray(None, dtype=object)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{name} must be a number of degrees or an array of them, got {given(values)}")
    return arr.astype(np.float64)


# --------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------


def _check_n(n, name: str = "n", most: int = MAX_POINTS) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"{name} must be a non-negative integer, got {n!r}")
    if n > most:
        raise InputError(f"{name} must be at most {most:,} points (more would not fit in memory), got {int(n):,}")
    return int(n)


def _check_seed(seed: object) -> int | None:
    """A seed: None or a whole number >= 0."""
    return None if seed is None else as_int(seed, "seed", minimum=0)


def _wrap_lon(lon: np.ndarray) -> np.ndarray:
    return np.mod(lon + 180.0, 360.0) - 180.0


def sample_land_points(n: int, seed: int | np.random.Generator = 0, exclude_antarctica: bool = True) -> np.ndarray:
    """``n`` points uniform on the sphere's land: (n, 2) float64 ``(lat, lon)`` degrees.

    Points are drawn uniform in sin(lat) and lon (uniform by area) and kept when on land, so the
    result is distributed as land area is. With ``exclude_antarctica`` (default) latitudes below
    -60 are never drawn (Blue Marble shows Antarctica as uniform ice). Deterministic from ``seed``
    (an int or a ``numpy.random.Generator``).

    Raises:
        InputError: ``n`` not a whole number in 0..:data:`MAX_POINTS`, ``seed`` neither a whole number >= 0
            nor a Generator, ``exclude_antarctica`` not a bool.
    """
    n = _check_n(n)
    exclude_antarctica = as_bool(exclude_antarctica, "exclude_antarctica")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(as_int(seed, "seed", minimum=0))
    z_min = math.sin(math.radians(ANTARCTICA_LAT)) if exclude_antarctica else -1.0
    out = np.empty((n, 2), dtype=np.float64)
    have = 0
    while have < n:
        need = n - have
        # land is ~29% of the sphere (~26% north of 60 S); rounds of at most 20M draws bound the memory
        m = min(int(need / 0.25 * 1.1) + 64, 20_000_000)
        z = rng.uniform(z_min, 1.0, m)
        lon = rng.uniform(-180.0, 180.0, m)
        lat = np.degrees(np.arcsin(z))
        keep = is_land(lat, lon)
        k = min(int(keep.sum()), need)
        out[have : have + k, 0] = lat[keep][:k]
        out[have : have + k, 1] = lon[keep][:k]
        have += k
    return out


def fibonacci_sphere(m: int, lon_offset_deg: float = 0.0) -> np.ndarray:
    """The ``m``-point Fibonacci sphere lattice: (m, 2) float64 ``(lat, lon)`` degrees.

    Point i sits at sin(lat) = 1 - (2 i + 1) / m and lon = i * golden angle (+ offset), so every point
    stands for the same area (4 pi / m) and neighbours are about ``sqrt(4 pi / m)`` radians apart.

    Raises:
        InputError: ``m`` not a whole number in 0..4 x :data:`MAX_POINTS`, or ``lon_offset_deg`` not a finite number.
    """
    m = _check_n(m, "m", 4 * MAX_POINTS)
    if isinstance(lon_offset_deg, (bool, np.bool_)) or not isinstance(lon_offset_deg, (int, float, np.integer, np.floating)):
        raise InputError(f"lon_offset_deg must be a number of degrees, got {given(lon_offset_deg)}")
    if not math.isfinite(lon_offset_deg):
        raise InputError(f"lon_offset_deg must be a finite number of degrees, got {lon_offset_deg!r}")
    i = np.arange(m, dtype=np.float64)
    z = 1.0 - (2.0 * i + 1.0) / max(m, 1)
    lat = np.degrees(np.arcsin(z))
    lon = _wrap_lon(np.degrees(np.mod(i * _GOLDEN_ANGLE, 2.0 * math.pi)) + lon_offset_deg)
    return np.column_stack([lat, lon])


def fibonacci_land_points(n: int, seed: int | None = None, exclude_antarctica: bool = True) -> np.ndarray:
    """Exactly ``n`` near-uniform, quasi-regular land points: (n, 2) float64 ``(lat, lon)`` degrees.

    A Fibonacci sphere lattice is made large enough that at least ``n`` of its points fall on land
    (south of -60 excluded by default), then thinned to exactly ``n`` by dropping evenly spread points
    (the lattice is ordered by latitude, so the few dropped points are spread over all latitudes).
    ``seed=None`` gives the canonical lattice; an integer rotates it by a random longitude drawn
    from that seed (another equally regular set). Deterministic.

    Raises:
        InputError: ``n`` not a whole number in 0..:data:`MAX_POINTS`, ``seed`` neither None nor a whole
            number >= 0, ``exclude_antarctica`` not a bool.
    """
    n = _check_n(n)
    seed = _check_seed(seed)
    exclude_antarctica = as_bool(exclude_antarctica, "exclude_antarctica")
    if n == 0:
        return np.empty((0, 2), dtype=np.float64)
    offset = 0.0 if seed is None else float(np.random.default_rng(seed).uniform(0.0, 360.0))
    m = int(n / 0.26 * 1.01) + 16
    for _ in range(20):
        pts = fibonacci_sphere(min(m, 4 * MAX_POINTS), offset)
        keep = is_land(pts[:, 0], pts[:, 1])
        if exclude_antarctica:
            keep &= pts[:, 0] >= ANTARCTICA_LAT
        land = pts[keep]
        if len(land) >= n:
            idx = (np.arange(n, dtype=np.int64) * len(land)) // n  # strictly increasing
            return np.ascontiguousarray(land[idx])
        m = int(m * n / max(len(land), 1) * 1.01) + 16
    raise InputError(f"could not place {n} land points on a Fibonacci lattice (n too small?)")  # pragma: no cover
