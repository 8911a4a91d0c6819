"""The ``lstm-gp`` and ``cnn-gp`` baselines' networks on per-band histograms (You et al. 2017).

J. You, X. Li, M. Low, D. Lobell, S. Ermon, "Deep Gaussian Process for Crop Yield Prediction Based
on Remote Sensing Data", AAAI 2017. Each example is a (T, C, K) array: for every month t and band c,
the histogram of the anchor tile's standardised pixel values over K bins (fractions summing to 1;
:mod:`geoapp.training.yield_inputs`). A Gaussian process over location and year is fitted on the
last hidden layer afterwards (:mod:`geoapp.models.baselines.gaussian_process`).

- :class:`HistogramLSTM`: an LSTM over the months, each step reading the C * K histogram values;
  the last step's hidden state -> dropout -> a dense ReLU layer (the GP's features) -> head. Their
  code: hidden 128, dense 256, dropout 0.75 (``paper``); ``demo``: hidden 64, dense 64.
- :class:`HistogramCNN`: the histograms as a C-channel image of K bins x T months; 3x3 convolutions
  with batch normalisation, ReLU and dropout, stride 2 every other layer, then a dense ReLU layer
  (the GP's features) -> head. Their code: channels 128-256-256-512-512-512, dense 2048 (``paper``);
  ``demo``: 16-32-32-64, dense 64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from geoapp.models.baselines.base import BaselineNet
from geoapp.models.baselines.config import BaselineConfig, sized

__all__ = [
    "HistogramLSTMConfig",
    "HistogramLSTM",
    "HistogramCNNConfig",
    "HistogramCNN",
    "LSTM_SIZES",
    "CNN_SIZES",
    "histogram_lstm_config",
    "histogram_cnn_config",
]


@dataclass(frozen=True)
class HistogramLSTMConfig(BaselineConfig):
    """The histogram LSTM's architecture and output scale."""

    n_steps: int = 7  # T months
    in_channels: int = 9  # C bands
    bins: int = 32  # K
    hidden: int = 128  # LSTM units
    dense: int = 256  # the last hidden layer (the GP's features)
    dropout: float = 0.75
    target_mean: float = 0.0
    target_std: float = 1.0

    model_name: ClassVar[str] = "lstm-gp"


LSTM_SIZES: dict[str, dict[str, Any]] = {"paper": {}, "demo": {"hidden": 64, "dense": 64, "dropout": 0.5}}
"""Named sizes as overrides of the :class:`HistogramLSTMConfig` defaults."""


def histogram_lstm_config(size: str, input_shape: tuple[int, ...], target_mean: float, target_std: float) -> HistogramLSTMConfig:
    """The config at ``size`` for histograms of shape (T, C, K)."""
    t, c, k = (int(v) for v in input_shape)
    return sized(
        HistogramLSTMConfig, LSTM_SIZES, size, n_steps=t, in_channels=c, bins=k, target_mean=target_mean, target_std=target_std
    )


class HistogramLSTM(BaselineNet):
    """(B, T, C, K) histograms -> LSTM over T -> dense -> (B,) yields in bu/acre."""

    def __init__(self, config: HistogramLSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.input_shape = (config.n_steps, config.in_channels, config.bins)
        self.lstm = nn.LSTM(config.in_channels * config.bins, config.hidden, batch_first=True)
        self.dense = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.dense), nn.ReLU())
        self.head = nn.Linear(config.dense, 1)

    def features(self, x: Tensor) -> Tensor:
        """(B, T, C, K) -> (B, dense)."""
        out, _ = self.lstm(x.flatten(2))
        return self.dense(out[:, -1])


@dataclass(frozen=True)
class HistogramCNNConfig(BaselineConfig):
    """The histogram CNN's architecture and output scale."""

    n_steps: int = 7  # T months
    in_channels: int = 9  # C bands
    bins: int = 32  # K
    channels: tuple[int, ...] = (128, 256, 256, 512, 512, 512)  # one 3x3 conv each; stride 2 on every second
    dense: int = 2048  # the last hidden layer (the GP's features)
    dropout: float = 0.5
    target_mean: float = 0.0
    target_std: float = 1.0

    model_name: ClassVar[str] = "cnn-gp"


CNN_SIZES: dict[str, dict[str, Any]] = {"paper": {}, "demo": {"channels": (16, 32, 32, 64), "dense": 64}}
"""Named sizes as overrides of the :class:`HistogramCNNConfig` defaults."""


def histogram_cnn_config(size: str, input_shape: tuple[int, ...], target_mean: float, target_std: float) -> HistogramCNNConfig:
    """The config at ``size`` for histograms of shape (T, C, K)."""
    t, c, k = (int(v) for v in input_shape)
    return sized(
        HistogramCNNConfig, CNN_SIZES, size, n_steps=t, in_channels=c, bins=k, target_mean=target_mean, target_std=target_std
    )


class HistogramCNN(BaselineNet):
    """(B, T, C, K) histograms -> C-channel (K x T) image -> 3x3 convs -> dense -> (B,) yields in bu/acre."""

    def __init__(self, config: HistogramCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.input_shape = (config.n_steps, config.in_channels, config.bins)
        layers: list[nn.Module] = []
        width = config.in_channels
        for i, ch in enumerate(config.channels):
            stride = 2 if i % 2 == 1 else 1
            layers += [
                nn.Conv2d(width, ch, 3, stride=stride, padding=1),
                nn.BatchNorm2d(ch),
                nn.ReLU(),
                nn.Dropout(config.dropout),
            ]
            width = ch
        self.convs = nn.Sequential(*layers)
        flat = width * self._spatial(config.bins) * self._spatial(config.n_steps)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(flat, config.dense), nn.ReLU())
        self.head = nn.Linear(config.dense, 1)

    def _spatial(self, n: int) -> int:
        """Size of an axis of length ``n`` after the strided convolutions (padding 1, kernel 3)."""
        for i in range(len(self.config.channels)):
            if i % 2 == 1:
                n = (n - 1) // 2 + 1
        return n

    def features(self, x: Tensor) -> Tensor:
        """(B, T, C, K) -> (B, dense)."""
        return self.dense(self.convs(x.permute(0, 2, 3, 1)))  # (B, C, K, T)
