"""What a location encoder knows: similarity fields, geolocalization, and their scores.

An *encoder* here is anything with ``embed_locations(lat, lon) -> (B, D)`` unit-norm tensors and a
``fingerprint`` string (our checkpoint, :class:`LoadedLocationModel`, or GeoCLIP's pretrained
encoder); geolocalization also needs ``embed_images(patches)``. Gallery embeddings are computed once
per (gallery, fingerprint) and cached on disk (:mod:`geoapp.data.galleries`).
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from geoapp.data.args import as_number, given
from geoapp.data.galleries import Gallery, cached_gallery_embeddings, load_gallery
from geoapp.data.geodesy import haversine_km
from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.models.contrastive import ContrastiveModel
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import LOCATION_MODELS, list_checkpoints, load_checkpoint
from geoapp.training.location_data import NEUTRAL_RELIEF
from geoapp.training.location_trainer import (
    LocationTrainConfig,
    build_contrastive_model,
    geolocation_metrics,
    reference_patches,
)

__all__ = [
    "LocationEncoderLike",
    "LoadedLocationModel",
    "DEFAULT_LOCATION_CHECKPOINT",
    "checkpoint_stamp",
    "load_location_model",
    "location_checkpoints",
    "gallery_embeddings",
    "similarity",
    "geolocate",
    "MIN_IMAGE_PX",
    "FootprintWarning",
    "footprint_note",
    "conform_image",
    "score_geolocation",
    "pixel_nn_baseline",
    "random_baseline",
]

DEFAULT_LOCATION_CHECKPOINT = "location/contrastive-sh-siren/best"
"""The shipped checkpoint, relative to the checkpoint folder."""


class LocationEncoderLike(Protocol):
    """What :func:`similarity` needs of an encoder."""

    fingerprint: str

    def embed_locations(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        """(N, D) unit-norm embeddings of (N,) latitudes and longitudes in degrees."""
        ...


@dataclass
class LoadedLocationModel:
    """A trained contrastive model ready for inference (CPU, eval mode)."""

    model: ContrastiveModel
    config: LocationTrainConfig
    card: dict
    fingerprint: str
    name: str

    @torch.no_grad()
    def embed_locations(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        """Unit-norm location embeddings (B, D) of points in degrees."""
        return self.model.embed_locations(torch.as_tensor(lat, dtype=torch.float32), torch.as_tensor(lon, dtype=torch.float32))

    @torch.no_grad()
    def embed_images(self, patches: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings (B, D) of uint8 patches (B, S, S, C)."""
        return self.model.embed_images(torch.as_tensor(patches))

    def patch(self, lat: float, lon: float, footprint_km: float | None = None, rgb_only: bool = False) -> np.ndarray:
        """The Blue Marble patch this model expects at (lat, lon) degrees: (S, S, C) uint8.

        Its size, channels and (by default) footprint come from the model's card, so the patch and
        :func:`geolocate` cannot disagree on the scale; ``rgb_only`` sets the relief band to the
        neutral value, as for an uploaded image.
        """
        lat, lon = _check_point(lat, lon)
        footprint = self.config.footprint_km if footprint_km is None else as_number(footprint_km, "footprint_km", "km")
        return reference_patches(replace(self.config, footprint_km=footprint), np.array([[lat, lon]]), rgb_only=rgb_only)[0]

    @property
    def footprint_range_km(self) -> tuple[float, float]:
        """(smallest, largest) patch footprint, km, that the model was trained on."""
        return float(self.config.footprint_min_km), float(self.config.footprint_max_km)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def checkpoint_stamp(folder: str | None = None) -> tuple[int, ...]:
    """When and how big a location checkpoint's weights and card are: part of every cache key of a loaded model.

    A training run rewrites ``best/`` at each better epoch (and a resumed or forced run again), so a
    model cached by its folder alone would go on serving the first weights it loaded. ``()`` for a
    folder without them (loading then says what is missing).
    """
    path = Path(folder) if folder else checkpoint_dir() / DEFAULT_LOCATION_CHECKPOINT
    try:
        stats = [(path / name).stat() for name in ("model.safetensors", "card.json")]
    except OSError:
        return ()
    return tuple(v for st in stats for v in (st.st_mtime_ns, st.st_size))


def load_location_model(folder: str | None = None) -> LoadedLocationModel:
    """Load a contrastive checkpoint (default: the shipped one) for inference; cached while its files are unchanged.

    Raises:
        MissingDataError: no checkpoint there (train one with ``python -m geoapp train location``).
        InputError: the card is not a contrastive location model.
    """
    return _load_location_model(folder, checkpoint_stamp(folder))


@functools.lru_cache(maxsize=4)
def _load_location_model(folder: str | None, stamp: tuple[int, ...]) -> LoadedLocationModel:
    """:func:`load_location_model`, cached by folder and :func:`checkpoint_stamp` (``stamp`` is only a key)."""
    path = Path(folder) if folder else checkpoint_dir() / DEFAULT_LOCATION_CHECKPOINT
    weights, card, _ = load_checkpoint(path)
    if card.get("model") not in LOCATION_MODELS:
        raise InputError(
            f"checkpoint {str(path)!r} holds model {card.get('model')!r}, not a location encoder (one of {list(LOCATION_MODELS)})"
        )
    try:
        cfg = LocationTrainConfig.from_dict(card["config"])
    except InputError as exc:
        raise DataFileError(f"checkpoint card {str(path / 'card.json')!r}: config: {exc}") from exc
    model = build_contrastive_model(cfg)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise InputError(f"checkpoint {str(path)!r} does not fit its own config: {exc}") from exc
    model.eval()
    name = path.parent.name if path.name == "best" else path.name
    return LoadedLocationModel(model, cfg, card, _file_hash(path / "model.safetensors"), name=name)


_IN_MEMORY: dict[tuple[str, str, str], torch.Tensor] = {}


def _check_encoder(encoder: object, name: str = "encoder") -> None:
    """Refuse anything that is not a location encoder (:class:`LocationEncoderLike`) before it is used."""
    fingerprint = getattr(encoder, "fingerprint", None)
    if not callable(getattr(encoder, "embed_locations", None)) or not isinstance(fingerprint, str):
        raise InputError(
            f"{name} must be a location encoder (a LoadedLocationModel from load_location_model(), or an object "
            f"with a text 'fingerprint' and an 'embed_locations(lat, lon)' method), got {given(encoder)}"
        )


def _check_model(model: object) -> None:
    """Refuse anything that is not a loaded location model (an encoder with a LocationTrainConfig ``config``)."""
    if not isinstance(getattr(model, "config", None), LocationTrainConfig):
        raise InputError(
            f"model must be a LoadedLocationModel (from load_location_model()) or None for the shipped one, got {given(model)}"
        )
    _check_encoder(model, "model")


def _check_gallery(gallery: object, name: str = "gallery") -> None:
    if not isinstance(gallery, Gallery):
        raise InputError(f"{name} must be a geoapp.data.galleries.Gallery (e.g. load_gallery('land')), got {given(gallery)}")


def gallery_embeddings(encoder: LocationEncoderLike, gallery: Gallery, progress: bool = False) -> torch.Tensor:
    """(N, D) unit-norm embeddings of every gallery point, computed once per encoder fingerprint.

    They are cached on disk and kept in memory for the process (a similarity query is then one mat-vec).

    Raises:
        InputError: ``encoder`` is not a location encoder, or ``gallery`` not a :class:`Gallery`.
    """
    _check_encoder(encoder)
    _check_gallery(gallery)
    key = (gallery.name, gallery.digest, encoder.fingerprint)
    if key not in _IN_MEMORY:

        def encode(lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
            return encoder.embed_locations(lat.float(), lon.float())

        if len(_IN_MEMORY) >= 4:
            _IN_MEMORY.pop(next(iter(_IN_MEMORY)))
        _IN_MEMORY[key] = cached_gallery_embeddings(gallery, encode, encoder.fingerprint, progress=progress)
    return _IN_MEMORY[key]


MAX_LON = 540.0
"""Largest longitude magnitude accepted (it wraps into [-180, 180]); beyond it the value is hardly degrees."""

MIN_IMAGE_PX = 16
"""Smallest image side :func:`geolocate` accepts (or the model's patch size, if smaller): a smaller
image, upscaled to the patch size, holds too little to place."""


def _degrees(value: object, name: str) -> float:
    """One finite number of degrees, or an InputError naming what was given."""
    arr = np.asarray(value) if not isinstance(value, str | bytes) else None
    if arr is None or arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise InputError(f"{name} must be one number of degrees, got {value!r}")
    number = float(arr)
    if not np.isfinite(number):
        raise InputError(f"{name} must be a finite number of degrees, got {value!r}")
    return number


def _check_point(lat: object, lon: object) -> tuple[float, float]:
    lat, lon = _degrees(lat, "lat"), _degrees(lon, "lon")
    if not -90.0 <= lat <= 90.0:
        raise InputError(f"latitude {lat!r} is outside [-90, 90] degrees (did you swap lat and lon?)")
    if not -MAX_LON <= lon <= MAX_LON:
        raise InputError(f"longitude {lon!r} is outside [-{MAX_LON:g}, {MAX_LON:g}] degrees (metres instead of degrees?)")
    return lat, (lon + 180.0) % 360.0 - 180.0


def similarity(lat: float, lon: float, encoder: LocationEncoderLike, gallery: Gallery) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of every gallery point to the reference point (lat, lon) in degrees.

    Longitudes outside [-180, 180] wrap (up to :data:`MAX_LON`). Returns the gallery coordinates (N, 2) lat/lon
    and the similarities (N,) in [-1, 1].

    Raises:
        InputError: ``lat`` or ``lon`` is not one finite number, a latitude outside [-90, 90] or a
            longitude beyond :data:`MAX_LON`; ``encoder`` is not a location encoder, or ``gallery`` not
            a :class:`Gallery`.
    """
    lat, lon = _check_point(lat, lon)
    _check_encoder(encoder)
    _check_gallery(gallery)
    emb = gallery_embeddings(encoder, gallery)
    ref = encoder.embed_locations(torch.tensor([lat]), torch.tensor([lon]))[0].to(emb.dtype)
    return gallery.coords, (emb @ ref).numpy()


class FootprintWarning(UserWarning):
    """An image's stated width lies outside the footprints the model was trained on: accuracy will drop."""


def footprint_note(footprint_km: float | None, model: LoadedLocationModel) -> str | None:
    """What happens to an image ``footprint_km`` wide (None: unknown) with ``model``, or None when all is well.

    Raises:
        InputError: ``footprint_km`` is not a positive number of km (or None).
    """
    if footprint_km is None:
        return None
    width = as_number(footprint_km, "footprint_km", "km")
    lo, hi = model.config.footprint_min_km, model.config.footprint_max_km
    if width < lo:
        return (
            f"the image is {width:,.0f} km wide, below the {lo:,.0f}-{hi:,.0f} km the model was trained on: "
            "accuracy will drop (a wider image, or one at a coarser resolution, places better)"
        )
    if width > hi:
        return (
            f"the image is {width:,.0f} km wide, above the {lo:,.0f}-{hi:,.0f} km the model was trained on: "
            f"its central {hi:,.0f} km are used; accuracy may drop"
        )
    return None


def geolocate(
    image: np.ndarray,
    top_k: int = 5,
    model: LoadedLocationModel | None = None,
    gallery: Gallery | None = None,
    footprint_km: float | None = None,
) -> list[tuple[float, float, float]]:
    """Top-k places for an image: [(lat, lon, cosine score)], best first.

    Args:
        image: (H, W, 3) uint8 RGB (an upload: the relief band is set to the neutral value the model
            saw for a share of its training patches) or (H, W, 4) RGB + relief, e.g. ``model.patch(lat, lon)``.
        top_k: number of places (a whole number from 1 to the gallery's size).
        model: default the shipped checkpoint.
        gallery: default 100K land points.
        footprint_km: the image's ground width, km, or None when unknown. Within the model's
            training range the image is used as it is; wider, its centre is cropped to the largest
            trained footprint; narrower, it is used with a :class:`FootprintWarning` (accuracy drops).

    Raises:
        InputError: ``top_k`` is not a whole number in range; the image is not (H, W, 3|4) uint8, or
            smaller than :data:`MIN_IMAGE_PX` (or the model's patch size) on a side; ``footprint_km``
            is not a positive number (or None); ``model`` is not a :class:`LoadedLocationModel` (or
            None), ``gallery`` not a :class:`Gallery` (or None).
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer):
        raise InputError(f"top_k must be a whole number of places (1 or more), got {top_k!r}")
    if model is not None:
        _check_model(model)
    if gallery is not None:
        _check_gallery(gallery)
    model = load_location_model() if model is None else model
    gallery = load_gallery("land") if gallery is None else gallery
    if not 1 <= int(top_k) <= len(gallery):
        raise InputError(f"top_k must be between 1 and {len(gallery)} (the gallery's size), got {top_k!r}")
    note = footprint_note(footprint_km, model)
    if note:
        warnings.warn(note, FootprintWarning, stacklevel=2)
    image = _crop_to_footprint(image, footprint_km, model.config.footprint_max_km)
    patch = conform_image(image, model.config)
    if not callable(getattr(model, "embed_images", None)):
        raise InputError(f"model must be a LoadedLocationModel with an 'embed_images' method, got {given(model)}")
    emb = gallery_embeddings(model, gallery)
    scores = emb @ model.embed_images(patch[None])[0].to(emb.dtype)
    best = torch.topk(scores, int(top_k))
    return [
        (float(gallery.coords[i, 0]), float(gallery.coords[i, 1]), float(s))
        for s, i in zip(best.values, best.indices, strict=True)
    ]


def _crop_to_footprint(image: np.ndarray, footprint_km: float | None, largest_km: float) -> np.ndarray:
    """The central ``largest_km`` of an image ``footprint_km`` wide (unchanged when unknown or within it)."""
    arr = np.asarray(image)
    if footprint_km is None or footprint_km <= largest_km or arr.ndim != 3:
        return arr
    keep = largest_km / float(footprint_km)
    h, w = arr.shape[:2]
    ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
    top, left = (h - ch) // 2, (w - cw) // 2
    return arr[top : top + ch, left : left + cw]


def conform_image(image: np.ndarray, cfg: LocationTrainConfig) -> np.ndarray:
    """An (H, W, 3|4) uint8 image resized to the model's patch size with the model's channel count.

    Raises:
        InputError: not such an image, or smaller than :data:`MIN_IMAGE_PX` (or the model's patch
            size, if smaller) on a side.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise InputError(f"expected an (H, W, 3) or (H, W, 4) uint8 image, got shape {arr.shape} dtype {arr.dtype}")
    smallest = min(MIN_IMAGE_PX, cfg.patch_px)
    if min(arr.shape[:2]) < smallest:
        raise InputError(
            f"the image is {arr.shape[1]} x {arr.shape[0]} pixels; geolocating needs at least {smallest} x {smallest} "
            f"(the model looks at {cfg.patch_px} x {cfg.patch_px} patches): use a larger image"
        )
    channels = 4 if cfg.relief else 3
    if arr.shape[:2] != (cfg.patch_px, cfg.patch_px):
        rgb = Image.fromarray(arr[..., :3]).resize((cfg.patch_px, cfg.patch_px), Image.BILINEAR)
        resized = [np.asarray(rgb)]
        if arr.shape[2] == 4:
            resized.append(
                np.asarray(Image.fromarray(arr[..., 3]).resize((cfg.patch_px, cfg.patch_px), Image.BILINEAR))[..., None]
            )
        arr = np.concatenate(resized, axis=2)
    if arr.shape[2] < channels:  # no relief band: the neutral value of training's relief dropout
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), NEUTRAL_RELIEF, np.uint8)], axis=2)
    return np.ascontiguousarray(arr[..., :channels])


def score_geolocation(
    model: LoadedLocationModel, patches: np.ndarray, true_latlon: np.ndarray, gallery: Gallery, batch: int = 512
) -> dict[str, float]:
    """Top-1 retrieval over ``gallery`` for every patch; accuracy within 25/200/750/2500 km and median km."""
    _check_model(model)
    _check_gallery(gallery)
    emb = gallery_embeddings(model, gallery)
    preds = []
    for i in range(0, len(patches), batch):
        img = model.embed_images(patches[i : i + batch]).to(emb.dtype)
        preds.append((img @ emb.t()).argmax(dim=1).numpy())
    return geolocation_metrics(gallery.coords[np.concatenate(preds)], true_latlon)


def random_baseline(true_latlon: np.ndarray, gallery: Gallery, seed: int = 0) -> dict[str, float]:
    """A uniformly random gallery point per query."""
    _check_gallery(gallery)
    rng = np.random.default_rng(seed)
    return geolocation_metrics(gallery.coords[rng.integers(0, len(gallery), len(true_latlon))], true_latlon)


def pixel_nn_baseline(
    train_patches: np.ndarray, train_latlon: np.ndarray, patches: np.ndarray, true_latlon: np.ndarray, batch: int = 256
) -> dict[str, float]:
    """Raw-pixel nearest neighbour: each query takes the location of the closest training patch (L2)."""
    train = torch.from_numpy(train_patches.reshape(len(train_patches), -1)).float()
    train_sq = (train**2).sum(dim=1)
    preds = []
    for i in range(0, len(patches), batch):
        q = torch.from_numpy(patches[i : i + batch].reshape(-1, train.shape[1])).float()
        d = train_sq[None, :] - 2.0 * q @ train.t()  # |q|^2 is constant per row
        preds.append(d.argmin(dim=1).numpy())
    return geolocation_metrics(train_latlon[np.concatenate(preds)], true_latlon)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (lat, lon) points."""
    return float(haversine_km(a[0], a[1], b[0], b[1]))


def location_checkpoints(root: str | Path | None = None) -> list[tuple[Path, dict]]:
    """Every contrastive location-encoder checkpoint under ``root`` (default: the checkpoint folder)."""
    return [(f, c) for f, c in list_checkpoints(root or checkpoint_dir()) if c.get("model") in LOCATION_MODELS]


def require_model(folder: str | None = None) -> LoadedLocationModel:
    """:func:`load_location_model` with a message telling the user how to get a checkpoint."""
    try:
        return load_location_model(folder)
    except MissingDataError as exc:
        raise MissingDataError(f"{exc}. Train one with `python -m geoapp train location` (about 20 min on CPU).") from exc
