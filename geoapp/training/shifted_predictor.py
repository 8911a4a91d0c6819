"""A loaded crop-yield checkpoint whose predictions get something added: the yield trend, a residual calibration.

Its own module so that the trend (:mod:`geoapp.training.trend`) and the calibration
(:mod:`geoapp.training.calibration`), which the training config names, need nothing of the trainers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from geoapp.data.dataset import YieldDataset

__all__ = ["ShiftedPredictor"]


class ShiftedPredictor:
    """A loaded checkpoint whose predictions get something added: the base of the trend and calibration wrappers.

    Wraps any predictor of :mod:`geoapp.training.model_kinds` (``card`` and ``predict``); a subclass
    says what it adds (:meth:`addition`, bu/acre per county). The what-if ablation's masked
    predictions get the same addition, so its changes are the inner model's. Other attributes (e.g.
    the model) are the inner predictor's.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.card = inner.card

    def addition(self, ds: YieldDataset, county: np.ndarray, year: int) -> np.ndarray | float:
        """What is added to the predictions of ``county`` (rows of ``ds.counties``) in ``year``, bu/acre."""
        raise NotImplementedError

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> Any:
        """The inner predictions (a :class:`~geoapp.training.yield_runs.YieldPredictions`) plus :meth:`addition` (bu/acre)."""
        out = self.inner.predict(ds, year, mask_group)
        return replace(out, predicted=out.predicted + self.addition(ds, out.county, year))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
