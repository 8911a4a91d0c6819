"""An ensemble of crop-yield checkpoints: the mean of their predictions.

Deep models trained from different seeds make partly independent errors; the mean of their
predictions has a lower error than a typical member (Lakshminarayanan et al. 2017, "deep ensembles").
:class:`EnsemblePredictor` loads several checkpoints of one held-out setting and predicts, per county,
the mean of the members' own predictions in bu/acre. It has the ``predict(ds, year)`` of every loaded
checkpoint (:class:`geoapp.training.model_kinds.Predictor`), so the residual calibration fits to it as
to one model (:func:`geoapp.training.calibration.fit_calibration`).

The members must share the dataset and the nested years (training years, validation year, test
year): an ensemble of models that saw different years would be scored on a year some of them
trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geoapp.data.args import given
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.training.model_kinds import load_yield_checkpoint
from geoapp.training.yield_runs import YieldPredictions

__all__ = ["EnsemblePredictor", "load_ensemble"]


class EnsemblePredictor:
    """The mean of several loaded checkpoints' predictions.

    Args:
        members: loaded checkpoints (:func:`~geoapp.training.model_kinds.load_yield_checkpoint`),
            at least two, with the same ``years`` in their cards.

    Attributes:
        card: ``{"kind": "crop-yield-ensemble", "members": [...], "years": ...}``: each member's model
            and seed, and the years the members share (training, validation, test).

    Raises:
        InputError: fewer than two members, or members with other nested years.
    """

    def __init__(self, members: Sequence[Any]) -> None:
        members = list(members)
        if len(members) < 2:
            raise InputError(f"an ensemble needs at least two checkpoints, got {len(members)}")
        years = [m.card.get("years") for m in members]
        if any(y != years[0] for y in years):
            raise InputError(f"the ensemble's checkpoints must share their training, validation and test years; got {years}")
        self.members = members
        self.card: dict[str, Any] = {
            "kind": "crop-yield-ensemble",
            "years": years[0],
            "members": [{"model": m.card.get("model"), "seed": (m.card.get("train_config") or {}).get("seed")} for m in members],
        }

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> YieldPredictions:
        """Per labelled county of ``year``, the mean of the members' predictions (bu/acre)."""
        outs = [m.predict(ds, int(year), mask_group=mask_group) for m in self.members]
        first = outs[0]
        for out in outs[1:]:
            if not np.array_equal(out.county, first.county):
                raise InputError(f"the ensemble's checkpoints predict different counties for {year}")
        mean = np.mean([out.predicted for out in outs], axis=0)
        return YieldPredictions(first.county, first.year, first.target, mean)


def load_ensemble(folders: Sequence[str | Path], ds: YieldDataset, calibrated: bool = False) -> EnsemblePredictor:
    """An :class:`EnsemblePredictor` of the checkpoints in ``folders`` (each checked against ``ds``).

    ``calibrated``: average each member's calibrated predictions (its card's residual calibration);
    by default the members' own predictions, so that a calibration can be fitted to the ensemble as a whole.

    Raises:
        InputError: ``folders`` is not a list of at least two checkpoint folders, or as :class:`EnsemblePredictor`.
        DataFileError: a card or weights are invalid.
    """
    if isinstance(folders, (str, Path)) or not isinstance(folders, Sequence):
        raise InputError(f"folders must be a list of checkpoint folders, got {given(folders)}")
    return EnsemblePredictor([load_yield_checkpoint(f, ds, calibrated=calibrated) for f in folders])
