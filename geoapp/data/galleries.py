"""Galleries of candidate places for retrieval, and their embeddings cached on disk.

Two galleries, each an (N, 2) float64 array of ``(lat, lon)`` degrees:

- :func:`geoclip_gallery`: GeoCLIP's 100K GPS gallery, the CSV that PyPI's ``geoclip==1.3.0`` ships
  (``geoclip/model/gps_gallery/coordinates_100K.csv``, header ``LAT,LON``, MIT licence). It is read
  without importing ``geoclip`` (whose ``__init__`` needs torchvision and transformers). As shipped
  it holds 5,877 repeated rows; they are kept, so retrieval runs over the same gallery as GeoCLIP's.
  Mostly where photos are taken: lat -55.9..79.5, dense in Europe and North America.
- :func:`land_gallery`: ``n`` near-uniform land points (a Fibonacci lattice on land north of 60 S,
  :func:`geoapp.data.land.fibonacci_land_points`).

:class:`GalleryEmbeddingCache` computes a gallery's embeddings under an encoder once and keeps them
at ``data_dir()/cache/gallery_<gallery>_<encoder-fingerprint>.safetensors`` (safetensors, never
pickle; written atomically). The fingerprint is a string the caller passes that changes whenever the
encoder does (for example a hash of the checkpoint file); a new fingerprint means a new file, so
changed weights are never served stale embeddings, and two encoders (ours and GeoCLIP's) keep their
own files side by side.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from geoapp.data.args import as_bool, as_int, as_optional_path, given
from geoapp.data.land import fibonacci_land_points
from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.fileio import atomic_path
from geoapp.paths import data_dir

__all__ = [
    "GEOCLIP_GALLERY_SIZE",
    "MAX_LAND_GALLERY_SIZE",
    "Gallery",
    "GALLERY_NAMES",
    "geoclip_gallery",
    "land_gallery",
    "load_gallery",
    "EncoderFn",
    "GalleryEmbeddingCache",
    "cached_gallery_embeddings",
]

GEOCLIP_GALLERY_SIZE = 100_000
MAX_LAND_GALLERY_SIZE = 1_000_000
"""Most points a land gallery may hold: one million, ten times the default (their 512-wide embeddings take
2 GB); a larger ``n`` is refused before any memory is allocated."""
GALLERY_NAMES = ("geoclip", "land")
"""Names accepted by :func:`load_gallery`."""

EncoderFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""Maps (lat (B,), lon (B,)) degree tensors to a (B, D) embedding tensor."""

_CACHE_FORMAT = "1"
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FINGERPRINT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


# --------------------------------------------------------------------------------------------------
# Galleries
# --------------------------------------------------------------------------------------------------


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Gallery:
    """A named set of candidate places.

    Attributes:
        name: short identifier used in cache file names (lower-case letters, digits, ``_``, ``-``).
        coords: (N, 2) float64 ``(lat, lon)`` in degrees, read-only.
        description: one line for people (source, size).
    """

    name: str
    coords: np.ndarray
    description: str = ""
    _digest: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise InputError(
                f"gallery name {self.name!r} must be 1-64 lower-case letters, digits, '_' or '-' (it becomes part of a file name)"
            )
        try:
            coords = np.asarray(self.coords, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise InputError(
                f"gallery {self.name!r}: coords must be an (N, 2) array of (lat, lon) degrees, got {given(self.coords)}"
            ) from None
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise InputError(f"gallery {self.name!r}: coords must be (N, 2) (lat, lon), got shape {coords.shape}")
        if not np.isfinite(coords).all():
            raise InputError(f"gallery {self.name!r}: coords contain NaN or infinite values")
        if (np.abs(coords[:, 0]) > 90.0).any():
            raise InputError(f"gallery {self.name!r}: latitudes (column 0) must lie in [-90, 90]")
        coords = _readonly(coords)
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "_digest", hashlib.sha256(coords.tobytes()).hexdigest())

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    @property
    def lat(self) -> np.ndarray:
        """Latitudes in degrees, (N,)."""
        return self.coords[:, 0]

    @property
    def lon(self) -> np.ndarray:
        """Longitudes in degrees, (N,)."""
        return self.coords[:, 1]

    @property
    def digest(self) -> str:
        """SHA-256 of the coordinates (float64 bytes): identifies the gallery's content."""
        return self._digest


def _geoclip_csv() -> Path:
    spec = importlib.util.find_spec("geoclip")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            "GeoCLIP's gallery comes from the package 'geoclip', which is not installed (pip install --no-deps geoclip==1.3.0)"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "model" / "gps_gallery" / "coordinates_100K.csv"
        if path.is_file():
            return path
    raise MissingDataError(
        "geoclip is installed but its model/gps_gallery/coordinates_100K.csv is missing; "
        "reinstall it (pip install --no-deps --force-reinstall geoclip==1.3.0)"
    )


@functools.lru_cache(maxsize=1)
def geoclip_gallery() -> np.ndarray:
    """GeoCLIP's 100K GPS gallery: read-only (100000, 2) float64 ``(lat, lon)`` degrees."""
    path = _geoclip_csv()
    try:
        table = pd.read_csv(path, dtype=np.float64)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataFileError(f"{path}: cannot read GeoCLIP's gallery ({exc}); reinstall geoclip") from exc
    header = [str(c).strip().upper() for c in table.columns]
    if "LAT" not in header or "LON" not in header:
        raise DataFileError(f"{path}: expected a header with LAT and LON columns, found {list(table.columns)}")
    if len(table) != GEOCLIP_GALLERY_SIZE:
        raise DataFileError(f"{path}: expected {GEOCLIP_GALLERY_SIZE} rows, found {len(table)}")
    coords = table.to_numpy()[:, [header.index("LAT"), header.index("LON")]]
    if (np.abs(coords[:, 0]) > 90).any() or (np.abs(coords[:, 1]) > 180).any():
        raise DataFileError(f"{path}: coordinates out of range; are LAT and LON swapped?")
    return _readonly(coords)


def land_gallery(n: int = 100_000, seed: int = 0) -> np.ndarray:
    """``n`` near-uniform land points: read-only (n, 2) float64 ``(lat, lon)`` degrees.

    A Fibonacci sphere lattice on land (Antarctica excluded), rotated in longitude by an angle drawn
    from ``seed``; see :func:`geoapp.data.land.fibonacci_land_points`. Memoised (the last four).

    Raises:
        InputError: ``n`` is not a whole number from 1 to :data:`MAX_LAND_GALLERY_SIZE`, or ``seed`` is not
            a whole number >= 0 (bools refused).
    """
    n, seed = _land_args(n, seed)
    return _land_gallery(n, seed)


def _land_args(n: object, seed: object) -> tuple[int, int]:
    n = as_int(n, "n", minimum=1)
    if n > MAX_LAND_GALLERY_SIZE:
        raise InputError(
            f"n must be at most {MAX_LAND_GALLERY_SIZE:,} land points (MAX_LAND_GALLERY_SIZE), got {n:,}; "
            "choose a smaller gallery"
        )
    return n, as_int(seed, "seed", minimum=0)


@functools.lru_cache(maxsize=4)
def _land_gallery(n: int, seed: int) -> np.ndarray:
    return _readonly(fibonacci_land_points(n, seed=seed))


def load_gallery(name: str, n: int = 100_000, seed: int = 0) -> Gallery:
    """A :class:`Gallery` by name: ``"geoclip"`` (GeoCLIP's 100K) or ``"land"`` (``n`` land points, ``seed``).

    Raises:
        InputError: an unknown ``name``; for ``"land"``, ``n`` not a whole number from 1 to
            :data:`MAX_LAND_GALLERY_SIZE` or ``seed`` not a whole number >= 0 (see :func:`land_gallery`).
    """
    if not isinstance(name, str):
        raise InputError(f"name must be a gallery name (text), one of {', '.join(GALLERY_NAMES)}; got {given(name)}")
    if name == "geoclip":
        return Gallery("geoclip100k", geoclip_gallery(), "GeoCLIP's 100K GPS gallery (geoclip 1.3.0, photo locations)")
    if name == "land":
        n, seed = _land_args(n, seed)
        return Gallery(
            f"land{n}_seed{seed}",
            land_gallery(n, seed),
            f"{n:,} near-uniform land points (Fibonacci lattice, north of 60 S, seed {seed})",
        )
    raise InputError(f"unknown gallery {name!r}; expected one of {', '.join(GALLERY_NAMES)}")


# --------------------------------------------------------------------------------------------------
# Embedding cache
# --------------------------------------------------------------------------------------------------


def _safe_fingerprint(fingerprint: str) -> str:
    if _FINGERPRINT_RE.fullmatch(fingerprint):
        return fingerprint
    return "h" + hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:24]


class GalleryEmbeddingCache:
    """Embeddings of galleries under encoders, computed once and kept on disk as safetensors.

    Files live at ``<cache_dir>/gallery_<gallery.name>_<fingerprint>.safetensors`` (``cache_dir``
    defaults to ``data_dir()/cache``, read at call time). A fingerprint that is not a plain
    file-name token (letters, digits, ``.``, ``_``, ``-``; at most 64 characters) is replaced by a
    hash of it in the file name. Each file's metadata records the gallery's content digest, the full
    fingerprint and the shape; a file that does not match (or cannot be read) is recomputed and
    replaced.
    """

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self._cache_dir = as_optional_path(cache_dir, "cache_dir")

    @property
    def cache_dir(self) -> Path:
        """The folder of the cached embeddings (default ``<data dir>/cache``)."""
        return self._cache_dir if self._cache_dir is not None else data_dir() / "cache"

    def path_for(self, gallery: Gallery, fingerprint: str) -> Path:
        """Where the embeddings of ``gallery`` under the encoder ``fingerprint`` are kept.

        Raises:
            InputError: ``gallery`` is not a :class:`Gallery`, or ``fingerprint`` not non-empty text.
        """
        _check_gallery(gallery)
        _check_fingerprint(fingerprint)
        return self.cache_dir / f"gallery_{gallery.name}_{_safe_fingerprint(fingerprint)}.safetensors"

    def fresh(self, gallery: Gallery, fingerprint: str) -> bool:
        """Whether a file for this gallery and encoder is on disk (its header is read, not the embeddings).

        Quick (milliseconds): for skipping work already done. :meth:`load` still checks the values.
        """
        path = self.path_for(gallery, fingerprint)
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                shape = fh.get_slice("embeddings").get_shape() if "embeddings" in fh.keys() else None
        except (SafetensorError, OSError, ValueError, RuntimeError):
            return False
        return (
            meta.get("format") == _CACHE_FORMAT
            and meta.get("gallery_digest") == gallery.digest
            and meta.get("fingerprint") == fingerprint
            and shape is not None
            and len(shape) == 2
            and shape[0] == len(gallery)
        )

    def load(self, gallery: Gallery, fingerprint: str) -> torch.Tensor | None:
        """The cached embeddings, or None when there is no valid file for this gallery and encoder."""
        path = self.path_for(gallery, fingerprint)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                if (
                    meta.get("format") != _CACHE_FORMAT
                    or meta.get("gallery_digest") != gallery.digest
                    or meta.get("fingerprint") != fingerprint
                    or "embeddings" not in fh.keys()
                ):
                    return None
                emb = fh.get_tensor("embeddings")
        except (SafetensorError, OSError, ValueError, RuntimeError):
            return None
        if emb.dtype != torch.float32 or emb.ndim != 2 or emb.shape[0] != len(gallery):
            return None
        norms = emb.norm(dim=1)
        if not torch.isfinite(norms).all() or (norms - 1.0).abs().max() > 1e-3:
            return None
        return emb

    def get(
        self,
        gallery: Gallery,
        encoder_fn: EncoderFn,
        fingerprint: str,
        batch_size: int = 8192,
        progress: bool = True,
    ) -> torch.Tensor:
        """Embeddings of ``gallery`` under ``encoder_fn``: (N, D) float32, rows L2-normalised, on CPU.

        Loaded from the cache file when it exists for this gallery and ``fingerprint``; otherwise
        computed in batches (under ``torch.no_grad``) and saved atomically. ``encoder_fn`` receives
        float64 CPU tensors of latitudes and longitudes in degrees, shape (B,), and returns a (B, D)
        tensor (any float dtype and device; cast inputs inside it as the model needs).
        """
        _check_gallery(gallery)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not callable(encoder_fn):
            raise InputError(
                f"encoder_fn must be a function of (lat, lon) tensors returning (B, D) embeddings, got {given(encoder_fn)}"
            )
        progress = as_bool(progress, "progress")
        cached = self.load(gallery, fingerprint)
        if cached is not None:
            return cached
        emb = _compute(gallery, encoder_fn, batch_size, progress)
        path = self.path_for(gallery, fingerprint)
        metadata = {
            "format": _CACHE_FORMAT,
            "gallery": gallery.name,
            "gallery_digest": gallery.digest,
            "fingerprint": fingerprint,
            "n": str(emb.shape[0]),
            "dim": str(emb.shape[1]),
            "coords": "(lat, lon) degrees of the gallery rows, in order; rows are L2-normalised",
        }
        try:
            with atomic_path(path) as tmp:
                save_file({"embeddings": emb.contiguous()}, str(tmp), metadata=metadata)
        except OSError as exc:
            raise DataFileError(f"cannot write the gallery embedding cache {path}: {exc}") from exc
        return emb


def _check_gallery(gallery: object) -> None:
    if not isinstance(gallery, Gallery):
        raise InputError(f"gallery must be a Gallery (see load_gallery), got {type(gallery).__name__}")


def _check_fingerprint(fingerprint) -> None:
    if not isinstance(fingerprint, str) or not fingerprint.strip():
        raise InputError(
            f"fingerprint must be a non-empty string identifying the encoder (e.g. a checkpoint hash), got {fingerprint!r}"
        )


def _compute(gallery: Gallery, encoder_fn: EncoderFn, batch_size: int, progress: bool) -> torch.Tensor:
    n = len(gallery)
    lat = torch.from_numpy(np.ascontiguousarray(gallery.lat))
    lon = torch.from_numpy(np.ascontiguousarray(gallery.lon))
    out: torch.Tensor | None = None
    with torch.no_grad(), tqdm(total=n, desc=f"embedding gallery {gallery.name}", unit="pt", disable=not progress) as bar:
        for s in range(0, n, batch_size):
            e = min(n, s + batch_size)
            emb = encoder_fn(lat[s:e], lon[s:e])
            emb = torch.as_tensor(emb).detach().to(device="cpu", dtype=torch.float32)
            if emb.ndim != 2 or emb.shape[0] != e - s:
                raise InputError(
                    f"encoder_fn returned shape {tuple(emb.shape)} for a batch of {e - s} points; expected ({e - s}, D)"
                )
            if out is None:
                out = torch.empty((n, emb.shape[1]), dtype=torch.float32)
            elif emb.shape[1] != out.shape[1]:
                raise InputError(f"encoder_fn returned {emb.shape[1]} features, earlier batches had {out.shape[1]}")
            norms = emb.norm(dim=1, keepdim=True)
            bad = ~torch.isfinite(norms).squeeze(1) | (norms.squeeze(1) == 0)
            if bad.any():
                i = s + int(torch.nonzero(bad)[0, 0])
                raise InputError(
                    f"encoder_fn returned a zero or non-finite embedding for gallery row {i} "
                    f"(lat {gallery.lat[i]:.4f}, lon {gallery.lon[i]:.4f})"
                )
            out[s:e] = emb / norms
            bar.update(e - s)
    if out is None:
        raise InputError(f"gallery {gallery.name!r} is empty; nothing to embed")
    return out


def cached_gallery_embeddings(
    gallery: Gallery | str,
    encoder_fn: EncoderFn,
    fingerprint: str,
    batch_size: int = 8192,
    progress: bool = True,
) -> torch.Tensor:
    """Embeddings of ``gallery`` under an encoder, cached on disk: (N, D) float32, unit rows.

    ``gallery`` is a :class:`Gallery` or a name for :func:`load_gallery` (``"geoclip"``, ``"land"``).
    ``fingerprint`` must change whenever the encoder's weights do (e.g. a hash of the checkpoint).
    The first call for a (gallery, fingerprint) pair runs ``encoder_fn`` over the gallery and writes
    ``data_dir()/cache/gallery_<gallery>_<fingerprint>.safetensors``; later calls read that file.
    Memoise the result in the app (e.g. ``st.cache_resource``): 100K x 512 floats are 205 MB.
    """
    if isinstance(gallery, str):
        gallery = load_gallery(gallery)  # anything else but a Gallery is refused by GalleryEmbeddingCache.get
    return GalleryEmbeddingCache().get(gallery, encoder_fn, fingerprint, batch_size=batch_size, progress=progress)
