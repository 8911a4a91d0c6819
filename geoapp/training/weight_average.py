"""An exponential moving average of a model's weights over the training steps (``ema``).

Validation RMSE of the demo models jumps from epoch to epoch (4.0 to 6.0 bu/acre within a few epochs
on the simulated data): the weights after any one step carry that step's noise, and the best-on-
validation choice then partly picks a lucky epoch. An average of the weights over the last few
hundred steps (Polyak averaging; as the ``AveragedModel`` of :mod:`torch.optim.swa_utils`) moves
slowly and smooths that noise out:

    w_ema <- decay * w_ema + (1 - decay) * w        after every optimizer step

BatchNorm's running statistics are averaged the same way (``use_buffers``), so the averaged model
is scored and saved as a model of its own: validation, the ``best/`` checkpoint and every prediction
use the average; ``last/`` keeps the trained weights (with the optimizer) and the average beside them
(:data:`~geoapp.training.checkpoint.AVERAGE`), so a resumed run continues both. With decay 0.995 the average spans about 200 steps
(1 / (1 - decay)), three epochs of the demo training.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from geoapp.errors import DataFileError
from geoapp.training.checkpoint import AVERAGE

__all__ = ["ema_of", "load_average"]


def ema_of(model: nn.Module, decay: float) -> AveragedModel | None:
    """An averaged copy of ``model`` updated with ``update_parameters(model)``, or None when ``decay`` is 0 (off)."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(float(decay)), use_buffers=True)


def load_average(folder: str | Path, averaged: AveragedModel) -> None:
    """Load the moving average a ``last/`` checkpoint keeps (:data:`~geoapp.training.checkpoint.AVERAGE`) into ``averaged``.

    Raises:
        DataFileError: the file is missing or damaged, or holds another model's tensors.
    """
    path = Path(folder) / AVERAGE
    try:
        averaged.load_state_dict(load_file(str(path)))
    except FileNotFoundError as exc:
        raise DataFileError(
            f"{str(path)!r} is missing: the run was trained with a moving average of its weights (ema) and cannot be "
            "resumed without it; train it again with force"
        ) from exc
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise DataFileError(
            f"the moving average of the weights in {str(path)!r} cannot be loaded ({exc}); train it again with force"
        ) from exc
