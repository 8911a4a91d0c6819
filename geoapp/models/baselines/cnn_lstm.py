"""The ``cnn-lstm`` baseline: SEMI-HA's CNN on each month, then an LSTM over the months (Section IV-B).

The CNN g(.) is the same as SEMI-HA's (:class:`~geoapp.models.resnet.ResNetEncoder` with the size's
``embed_dim``, ``cnn_width`` and stem from :data:`geoapp.models.yield_models.SIZES`); an LSTM of
``embed_dim`` units reads the T monthly embeddings in calendar order, and its last hidden state goes
through a linear head in bu/acre. It differs from S-HA only in how the months are combined (an LSTM
instead of hybrid attention and mean pooling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from geoapp.errors import InputError
from geoapp.models.baselines.base import BaselineNet
from geoapp.models.baselines.config import BaselineConfig
from geoapp.models.resnet import ResNetEncoder
from geoapp.models.yield_models import SIZES, YieldModelConfig

__all__ = ["CNNLSTMConfig", "CNNLSTM", "cnn_lstm_config"]


@dataclass(frozen=True)
class CNNLSTMConfig(BaselineConfig):
    """The CNN (as SEMI-HA's at the same size), the LSTM, the input shape and the output scale."""

    n_steps: int = 7  # T months
    in_channels: int = 9  # C bands
    tile_px: int = 50  # t
    embed_dim: int = 512  # m, the CNN's embedding and the LSTM's units
    cnn_width: int = 64
    small_input: bool = False
    dropout: float = 0.1
    target_mean: float = 0.0
    target_std: float = 1.0

    model_name: ClassVar[str] = "cnn-lstm"


def cnn_lstm_config(size: str, input_shape: tuple[int, ...], target_mean: float, target_std: float) -> CNNLSTMConfig:
    """The config at ``size`` (SEMI-HA's CNN at that size) for tiles of shape (T, C, t, t)."""
    if not isinstance(size, str) or size not in SIZES:
        raise InputError(f"unknown model size {size!r}; expected one of {list(SIZES)}")
    cnn = {k: v for k, v in SIZES[size].items() if k in ("embed_dim", "cnn_width", "small_input")}
    defaults = YieldModelConfig()
    cnn = {"embed_dim": defaults.embed_dim, "cnn_width": defaults.cnn_width, "small_input": defaults.small_input, **cnn}
    t, c, px, _ = (int(v) for v in input_shape)
    return CNNLSTMConfig(n_steps=t, in_channels=c, tile_px=px, target_mean=target_mean, target_std=target_std, **cnn)


class CNNLSTM(BaselineNet):
    """(B, T, C, t, t) standardised tiles -> g(.) per month -> LSTM -> (B,) yields in bu/acre."""

    def __init__(self, config: CNNLSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.input_shape = (config.n_steps, config.in_channels, config.tile_px, config.tile_px)
        self.encoder = ResNetEncoder(config.in_channels, config.embed_dim, config.cnn_width, config.small_input)
        self.lstm = nn.LSTM(config.embed_dim, config.embed_dim, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.embed_dim, 1)

    def features(self, x: Tensor) -> Tensor:
        """(B, T, C, t, t) -> (B, embed_dim): the LSTM's last hidden state."""
        b, t = x.shape[:2]
        emb = self.encoder(x.reshape(b * t, *x.shape[2:])).view(b, t, -1)
        out, _ = self.lstm(emb)
        return self.dropout(out[:, -1])
