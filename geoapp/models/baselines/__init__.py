"""The paper's baselines (Section IV-B) other than ridge (:mod:`geoapp.models.ridge`).

One module per model: :mod:`.forest` (``rf``), :mod:`.mlp` (``mlp``), :mod:`.histogram_nets`
(``lstm-gp``, ``cnn-gp``) with :mod:`.gaussian_process`, :mod:`.c3d` (``c3d``) and :mod:`.cnn_lstm`
(``cnn-lstm``). :data:`NETWORKS` names the neural ones with what builds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from geoapp.models.baselines.base import BaselineNet
from geoapp.models.baselines.c3d import C3D, C3DConfig, c3d_config
from geoapp.models.baselines.cnn_lstm import CNNLSTM, CNNLSTMConfig, cnn_lstm_config
from geoapp.models.baselines.forest import TreeEnsemble, forest_from_sklearn
from geoapp.models.baselines.gaussian_process import GaussianProcessLayer, GPParams, fit_gaussian_process
from geoapp.models.baselines.histogram_nets import (
    HistogramCNN,
    HistogramCNNConfig,
    HistogramLSTM,
    HistogramLSTMConfig,
    histogram_cnn_config,
    histogram_lstm_config,
)
from geoapp.models.baselines.mlp import MLPConfig, MLPRegressor, mlp_config

__all__ = [
    "NetworkSpec",
    "NETWORKS",
    "BaselineNet",
    "TreeEnsemble",
    "forest_from_sklearn",
    "GaussianProcessLayer",
    "GPParams",
    "fit_gaussian_process",
]


@dataclass(frozen=True)
class NetworkSpec:
    """A neural baseline: its config class, its module, how to size it, what it reads, whether a GP follows.

    ``make_config(size, input_shape, target_mean, target_std)`` gives the config for one example's
    input shape and the training labels' mean and spread (bu/acre).
    """

    config: type
    model: Callable[[Any], BaselineNet]
    make_config: Callable[[str, tuple[int, ...], float, float], Any]
    inputs: str  # "averaged", "histograms" or "tiles"
    gp: bool


NETWORKS: dict[str, NetworkSpec] = {
    "mlp": NetworkSpec(MLPConfig, MLPRegressor, mlp_config, "averaged", False),
    "lstm-gp": NetworkSpec(HistogramLSTMConfig, HistogramLSTM, histogram_lstm_config, "histograms", True),
    "cnn-gp": NetworkSpec(HistogramCNNConfig, HistogramCNN, histogram_cnn_config, "histograms", True),
    "c3d": NetworkSpec(C3DConfig, C3D, c3d_config, "tiles", False),
    "cnn-lstm": NetworkSpec(CNNLSTMConfig, CNNLSTM, cnn_lstm_config, "tiles", False),
}
"""The neural baselines by model name."""
