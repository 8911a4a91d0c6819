"""The county location table of ``semi-ha-loc``: the location encoder's embedding of each county's anchor-tile centre.

Built once when a ``semi-ha-loc`` run starts and stored in the model's frozen ``location.table``
buffer (:mod:`geoapp.models.county_location`), so the checkpoint predicts without the encoder. One
row per county of the dataset, in the order of ``ds.counties`` (the rows the examples'
``county`` index): the point is the centre of the county's anchor tile (the tile the model reads,
:func:`geoapp.data.tiles.tile_origin`: centred on the anchor pixel, shifted to stay on the grid), in
the grid's CRS (EPSG:5070 for the embedded datasets) converted to latitude and longitude in degrees
(EPSG:4326) with pyproj; the embedding is the encoder's unit-norm ``embed_locations(lat, lon)``.

The encoder is the shipped contrastive spherical-harmonics + SIREN checkpoint
(:data:`DEFAULT_LOCATION_ENCODER` under the checkpoint folder, or the repository's copy when a
custom checkpoint folder does not hold it). :func:`location_card` is what the run's card records
about it (``location_context``): its folder, its card's model and config, a hash of its weights and
the table's size, so a checkpoint says which encoder made its table.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyproj import Transformer

from geoapp.data.args import as_path, given
from geoapp.data.dataset import YieldDataset
from geoapp.data.tiles import tile_origin
from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.paths import REPO_ROOT, checkpoint_dir
from geoapp.training.checkpoint import LOCATION_MODELS, load_checkpoint

__all__ = ["DEFAULT_LOCATION_ENCODER", "default_encoder_folder", "anchor_centres", "county_location_table", "location_card"]

DEFAULT_LOCATION_ENCODER = "location/contrastive-sh-siren/best"
"""The shipped location encoder, relative to the checkpoint folder."""


def default_encoder_folder() -> Path:
    """The shipped encoder's folder: under the checkpoint folder, else the repository's own copy.

    Raises:
        MissingDataError: neither holds it.
    """
    for root in (checkpoint_dir(), REPO_ROOT / "checkpoints"):
        if (root / DEFAULT_LOCATION_ENCODER / "card.json").is_file():
            return root / DEFAULT_LOCATION_ENCODER
    raise MissingDataError(
        f"no location encoder at {str(checkpoint_dir() / DEFAULT_LOCATION_ENCODER)!r} nor in the repository's "
        "checkpoints; semi-ha-loc needs it (train one with `python -m geoapp train location`)"
    )


def anchor_centres(ds: YieldDataset) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees, EPSG:4326) of the centre of every county's anchor tile: two (N,) arrays.

    N = rows of ``ds.counties``, in that order. The centre is computed on the grid (its CRS, metres)
    and converted with pyproj.
    """
    if not isinstance(ds, YieldDataset):
        raise InputError(f"ds must be a loaded YieldDataset (geoapp.data.dataset.load_dataset), got {given(ds)}")
    grid, t = ds.grid, ds.tile_px
    rows, cols = ds.counties["anchor_row"].to_numpy(), ds.counties["anchor_col"].to_numpy()
    origins = np.array([tile_origin(int(r), int(c), t, grid.shape) for r, c in zip(rows, cols, strict=True)], dtype=np.float64)
    origins = origins.reshape(-1, 2)  # (N, 2) upper-left (row, col) of each anchor tile
    x = grid.xmin + (origins[:, 1] + t / 2.0) * grid.resolution_m  # tile centre, metres east
    y = grid.ymax - (origins[:, 0] + t / 2.0) * grid.resolution_m  # metres north (rows go south)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def _weights_hash(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of a file (the encoder's weights, for the card)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@torch.no_grad()
def county_location_table(ds: YieldDataset, encoder: str | Path | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """The (N, D) float32 table of unit-norm location embeddings of the counties' anchor-tile centres, and its card entry.

    Args:
        ds: the dataset (its counties, grid and tile size).
        encoder: a contrastive location-encoder checkpoint folder (default: :func:`default_encoder_folder`).

    Returns:
        (table, :func:`location_card` entry).

    Raises:
        MissingDataError: no encoder checkpoint there.
        InputError: the checkpoint is not a location encoder, or ``ds`` is not a dataset.
        DataFileError: its card or weights are invalid or do not fit its config.
    """
    from geoapp.training.location_trainer import LocationTrainConfig, build_contrastive_model  # the encoder's code, on demand

    folder = default_encoder_folder() if encoder is None else as_path(encoder, "encoder")
    lat, lon = anchor_centres(ds)
    weights, card, _ = load_checkpoint(folder)
    if card.get("model") not in LOCATION_MODELS:
        raise InputError(
            f"checkpoint {str(folder)!r} holds model {card.get('model')!r}, not a location encoder "
            f"(one of {list(LOCATION_MODELS)})"
        )
    try:
        cfg = LocationTrainConfig.from_dict(card["config"])
        model = build_contrastive_model(cfg)
        model.load_state_dict(weights)
    except (InputError, RuntimeError) as exc:
        raise DataFileError(f"location encoder {str(folder)!r}: its weights do not fit its card's config: {exc}") from exc
    model.eval()
    table = model.embed_locations(torch.as_tensor(lat, dtype=torch.float32), torch.as_tensor(lon, dtype=torch.float32))
    table = table.float().contiguous()
    if not bool(torch.isfinite(table).all()):
        raise DataFileError(f"location encoder {str(folder)!r} gives non-finite embeddings; it cannot be used")
    return table, location_card(folder, card, table)


def location_card(folder: Path, encoder_card: dict[str, Any], table: torch.Tensor) -> dict[str, Any]:
    """What a ``semi-ha-loc`` card records about its table (``location_context``)."""
    folder = Path(folder).resolve()
    try:
        shown = str(folder.relative_to(REPO_ROOT))
    except ValueError:
        shown = str(folder)
    return {
        "encoder": shown,
        "model": encoder_card.get("model"),
        "config": encoder_card.get("config"),
        "weights_sha256_16": _weights_hash(folder / "model.safetensors"),
        "points": "centre of each county's anchor tile, grid CRS -> EPSG:4326 degrees (pyproj)",
        "rows": int(table.shape[0]),
        "dim": int(table.shape[1]),
        "frozen": True,
    }
