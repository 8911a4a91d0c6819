"""Pieces every crop-yield model kind shares.

The dataset's card entry, the bands a run keeps, the config fields that applied, and one set of
predictions.

See :mod:`geoapp.training.model_kinds` for the kinds themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from geoapp.data.bands import BANDS, group_bands
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.training.yield_config import YieldTrainConfig

__all__ = ["YieldPredictions", "dataset_card", "kept_bands", "applied_config", "train_card"]


@dataclass(frozen=True)
class YieldPredictions:
    """Predicted and true yields of the labelled counties of one year.

    Attributes:
        county: (N,) int rows of ``ds.counties``.
        year: the year predicted.
        target: (N,) float64 true yields, bu/acre.
        predicted: (N,) float64 predicted yields, bu/acre.
    """

    county: np.ndarray
    year: int
    target: np.ndarray
    predicted: np.ndarray

    def __len__(self) -> int:
        return len(self.county)

    def table(self, ds: YieldDataset) -> pd.DataFrame:
        """Per county: geoid, year, true and predicted yield (bu/acre)."""
        return pd.DataFrame(
            {
                "geoid": ds.counties["geoid"].to_numpy()[self.county],
                "year": self.year,
                "true": self.target,
                "predicted": self.predicted,
            }
        )


def dataset_card(ds: YieldDataset) -> dict[str, Any]:
    """The ``dataset`` entry of a checkpoint card: name, fingerprint, simulated, tile size (px) and resolution (m).

    With ``yield_trend`` too when ``ds`` is a detrended view (:func:`geoapp.training.trend.detrended`):
    the model's targets were the yields minus that trend, which predictions add back.
    """
    entry = {
        "name": ds.name,
        "fingerprint": ds.fingerprint,
        "simulated": ds.simulated,
        "tile_px": ds.tile_px,
        "resolution_m": ds.grid.resolution_m,
    }
    if ds.card.get("yield_trend") is not None:
        entry["yield_trend"] = ds.card["yield_trend"]
    return entry


def kept_bands(exclude_group: str | None) -> tuple[str, ...]:
    """The bands (in :data:`BANDS` order) a run reads: all of them, or all but a feature group's (Figure 7)."""
    if exclude_group is None:
        return BANDS
    dropped = group_bands(exclude_group)
    return tuple(b for b in BANDS if b not in dropped)


ALWAYS_APPLIES: tuple[str, ...] = ("trend", "calibration")
"""Fields every kind uses: the trend is removed from the targets before any kind trains
(:mod:`geoapp.training.trend`), and the calibration is fitted after it has (:mod:`geoapp.training.calibration`)."""


def applied_config(cfg: YieldTrainConfig, names: tuple[str, ...]) -> list[str]:
    """The names of the config fields a kind used, in the config's order (recorded in its card)."""
    names = (*names, *(n for n in ALWAYS_APPLIES if n not in names))
    known = asdict(cfg)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InputError(f"unknown YieldTrainConfig field(s) {unknown}; known: {sorted(known)}")
    return [name for name in known if name in names]


def train_card(cfg: YieldTrainConfig, applies: tuple[str, ...]) -> dict[str, Any]:
    """The ``train_config`` (every field, as given) and ``applies`` (the fields this kind used) entries of a card."""
    return {"train_config": asdict(cfg), "applies": applied_config(cfg, applies)}
