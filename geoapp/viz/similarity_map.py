"""World maps of a per-point field (e.g. cosine similarity over a 100K gallery) as one image overlay.

Sending 100,000 points to the browser is slow; instead each pixel of a Web-Mercator raster takes the
value of its nearest gallery point (precomputed once per gallery: :class:`RasterIndex`), pixels far
from every gallery point (sea, for a land gallery) stay transparent, and the raster goes to Leaflet
as one PNG ``ImageOverlay``. Re-colouring for a new reference point is a gather plus a PNG encode.

Building the index of a 100K gallery takes about a second; :func:`stored_raster_index` keeps it on
disk (``.npz``, loaded without pickle) beside the gallery embedding cache, keyed by the gallery's
content digest and the index parameters, so a new server loads it in milliseconds.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from pathlib import Path

import folium
import numpy as np
from PIL import Image
from plotly.colors import sample_colorscale
from scipy.spatial import cKDTree

from geoapp.errors import InputError
from geoapp.fileio import atomic_path
from geoapp.paths import data_dir
from geoapp.viz.maps import OfflineMap

__all__ = [
    "RasterIndex",
    "build_raster_index",
    "stored_raster_index",
    "field_png",
    "png_data_url",
    "world_field_map",
    "mercator_basemap_jpeg",
    "MAX_LAT",
]

MAX_LAT = 85.0511  # Web Mercator's latitude limit, degrees


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


@dataclass(frozen=True)
class RasterIndex:
    """Nearest-gallery-point index of every pixel of a Web-Mercator world raster.

    Attributes:
        index: (H, W) int index into the gallery.
        valid: (H, W) bool, False where the nearest gallery point is farther than the cut-off.
        bounds: [[south, west], [north, east]] in degrees, for ``folium.raster_layers.ImageOverlay``.
    """

    index: np.ndarray
    valid: np.ndarray
    bounds: list[list[float]]


def build_raster_index(gallery_latlon: np.ndarray, width: int = 720, max_km: float = 120.0) -> RasterIndex:
    """Index a (N, 2) lat/lon gallery onto a ``width``-pixel-wide Web-Mercator raster (square pixels)."""
    height = width  # Web Mercator between +-85.05 degrees is square
    x = (np.arange(width) + 0.5) / width * 360.0 - 180.0
    y = np.pi * (1.0 - 2.0 * (np.arange(height) + 0.5) / height)  # mercator y from top
    lat = np.degrees(np.arctan(np.sinh(y)))
    lon_grid, lat_grid = np.meshgrid(x, lat)
    tree = cKDTree(_unit_vectors(gallery_latlon[:, 0], gallery_latlon[:, 1]))
    dist, idx = tree.query(_unit_vectors(lat_grid.ravel(), lon_grid.ravel()))
    chord_max = 2.0 * np.sin(max_km / 6371.0 / 2.0)
    return RasterIndex(
        index=idx.reshape(height, width).astype(np.int32),
        valid=(dist <= chord_max).reshape(height, width),
        bounds=[[-MAX_LAT, -180.0], [MAX_LAT, 180.0]],
    )


_DIGEST_RE = re.compile(r"[0-9a-f]{16,64}")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _raster_index_path(folder: Path, name: str, digest: str, width: int, max_km: float) -> Path:
    return folder / f"raster_index_{name}_{digest[:16]}_w{width}_km{max_km:g}.npz"


def _read_raster_index(path: Path, n_points: int, width: int) -> RasterIndex | None:
    """The index stored at ``path``, or None when it is missing or does not fit (then it is rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            index, valid = f["index"], f["valid"]
    except (OSError, ValueError, KeyError):
        return None
    if index.shape != (width, width) or valid.shape != (width, width) or index.dtype != np.int32 or valid.dtype != bool:
        return None
    if index.size and (index.min() < 0 or index.max() >= n_points):
        return None
    return RasterIndex(index=index, valid=valid, bounds=[[-MAX_LAT, -180.0], [MAX_LAT, 180.0]])


def stored_raster_index(
    gallery_latlon: np.ndarray,
    name: str,
    digest: str,
    width: int = 720,
    max_km: float = 120.0,
    folder: str | Path | None = None,
) -> RasterIndex:
    """:func:`build_raster_index`, kept on disk: built once per (gallery content, width, cut-off), then loaded.

    Args:
        gallery_latlon: (N, 2) gallery (lat, lon) in degrees.
        name: the gallery's name (part of the file name).
        digest: hex SHA-256 of the gallery's coordinates (``Gallery.digest``); a changed gallery gets a new file.
        width: raster width in pixels.
        max_km: cut-off distance in km.
        folder: where the ``.npz`` goes (default ``data_dir()/cache``, beside the gallery embeddings).

    A file that cannot be read or does not fit the gallery is rebuilt and replaced; a folder that
    cannot be written leaves the index built in memory only.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InputError(f"gallery name {name!r} must be 1-64 lower-case letters, digits, '_' or '-' (it becomes a file name)")
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InputError(f"digest {digest!r} must be 16-64 lower-case hex digits (the gallery's SHA-256)")
    path = _raster_index_path(Path(folder) if folder is not None else data_dir() / "cache", name, digest, width, max_km)
    stored = _read_raster_index(path, len(gallery_latlon), width)
    if stored is not None:
        return stored
    raster = build_raster_index(gallery_latlon, width=width, max_km=max_km)
    try:
        with atomic_path(path) as tmp:
            np.savez(tmp, index=raster.index, valid=raster.valid)
    except OSError:
        pass  # a read-only cache folder: the index still serves this process
    return raster


def field_png(
    values: np.ndarray, raster: RasterIndex, vmin: float, vmax: float, colorscale: str = "Turbo", opacity: float = 0.85
) -> bytes:
    """PNG (RGBA) of per-gallery-point ``values`` (N,) drawn through ``raster``."""
    lut = np.array(
        [[int(c) for c in s[4:-1].split(",")] for s in sample_colorscale(colorscale, np.linspace(0, 1, 256).tolist())],
        dtype=np.uint8,
    )
    v = np.asarray(values, dtype=np.float32)[raster.index]
    t = np.nan_to_num(np.clip((v - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0), nan=0.0)  # NaN: transparent below
    rgba = np.zeros(raster.index.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[(t * 255).astype(np.int32)]
    rgba[..., 3] = np.where(raster.valid & np.isfinite(v), int(opacity * 255), 0)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def png_data_url(png: bytes, mime: str = "image/png") -> str:
    """A ``data:`` URL for an image, so the overlay needs no file server."""
    return f"data:{mime};base64," + base64.b64encode(png).decode("ascii")


def world_field_map(
    overlay_png: bytes,
    bounds: list[list[float]],
    reference: tuple[float, float] | None = None,
    basemap_url: str | None = None,
    height: int = 480,
) -> OfflineMap:
    """A world map (no tiles) with an optional basemap image, the field overlay and the reference marked.

    Args:
        overlay_png: PNG from :func:`field_png`.
        bounds: overlay bounds [[south, west], [north, east]].
        reference: (lat, lon) of the reference point, drawn as a ring.
        basemap_url: URL (or data URL) of a Web-Mercator world image under the overlay.
        height: map height in pixels.
    """
    m = OfflineMap(
        location=(20.0, 0.0), zoom_start=1, tiles=None, height=height, min_zoom=1, max_bounds=True, world_copy_jump=False
    )
    if basemap_url:
        folium.raster_layers.ImageOverlay(basemap_url, bounds=bounds, opacity=1.0, name="basemap").add_to(m)
    folium.raster_layers.ImageOverlay(png_data_url(overlay_png), bounds=bounds, opacity=1.0, name="similarity").add_to(m)
    if reference is not None:
        folium.CircleMarker(
            reference,
            radius=9,
            color="#000000",
            weight=3,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=0.9,
            tooltip=f"reference {reference[0]:.2f}, {reference[1]:.2f}",
        ).add_to(m)
    m.fit_bounds([[-60, -170], [75, 170]])
    return m


def mercator_basemap_jpeg(image: np.ndarray, width: int = 720, quality: int = 80) -> bytes:
    """A square Web-Mercator JPEG of ``width`` pixels from an equirectangular world image.

    ``image`` is (H, W, 3) uint8 covering lat 90..-90, lon -180..180; rows and columns are taken by
    nearest neighbour.
    """
    h, w = image.shape[:2]
    y = np.pi * (1.0 - 2.0 * (np.arange(width) + 0.5) / width)
    lat = np.degrees(np.arctan(np.sinh(y)))
    rows = np.clip(((90.0 - lat) / 180.0 * h).astype(int), 0, h - 1)
    cols = np.clip(((np.arange(width) + 0.5) / width * w).astype(int), 0, w - 1)
    buf = io.BytesIO()
    Image.fromarray(image[rows][:, cols]).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
