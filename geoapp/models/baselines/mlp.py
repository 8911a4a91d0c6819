"""The ``mlp`` baseline: a multi-layer perceptron on spatially averaged monthly features (Section IV-B).

Input: the anchor tile's mean of each band and month, standardised with the training years'
statistics, flattened to (T * C,) (63 for the paper's 9 bands and 7 months). Hidden layers of ReLU
units with dropout, then a linear head in bu/acre. The paper gives no sizes; ``demo`` (128, 64) and
``paper`` (256, 128) are documented defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from geoapp.models.baselines.base import BaselineNet
from geoapp.models.baselines.config import BaselineConfig, sized

__all__ = ["MLPConfig", "MLPRegressor", "MLP_SIZES", "mlp_config"]


@dataclass(frozen=True)
class MLPConfig(BaselineConfig):
    """The MLP's architecture and output scale."""

    in_features: int = 63  # T * C
    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.2
    target_mean: float = 0.0  # bu/acre, set by the trainer from the training labels
    target_std: float = 1.0

    model_name: ClassVar[str] = "mlp"


MLP_SIZES: dict[str, dict[str, Any]] = {"paper": {}, "demo": {"hidden": (128, 64)}}
"""Named sizes as overrides of the :class:`MLPConfig` defaults."""


def mlp_config(size: str, input_shape: tuple[int, ...], target_mean: float, target_std: float) -> MLPConfig:
    """The config at ``size`` for inputs of shape (F,)."""
    return sized(MLPConfig, MLP_SIZES, size, in_features=int(input_shape[0]), target_mean=target_mean, target_std=target_std)


class MLPRegressor(BaselineNet):
    """(B, F) averaged features -> hidden ReLU layers -> (B,) yields in bu/acre."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        self.input_shape = (config.in_features,)
        layers: list[nn.Module] = []
        width = config.in_features
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(config.dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def features(self, x: Tensor) -> Tensor:
        """(B, F) -> (B, hidden[-1])."""
        return self.body(x)
