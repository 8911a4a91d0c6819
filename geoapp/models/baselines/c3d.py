"""The ``c3d`` baseline: a 3-D CNN over (month, y, x) of the anchor tiles (Section IV-B).

After C3D (D. Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV
2015): 3x3x3 convolutions over the months and the tile's pixels with the bands as channels, batch
normalisation and ReLU, a 1x2x2 max-pool (space only: there are just T = 7 months) after every block
but the last, global average pooling, a dense ReLU layer, and a linear head in bu/acre. The paper
gives no sizes; ``paper``: channels 64-128-256-256, dense 512 (C3D's first stages); ``demo``:
8-16-32, dense 64 for CPU training on 16 px tiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from geoapp.models.baselines.base import BaselineNet
from geoapp.models.baselines.config import BaselineConfig, sized

__all__ = ["C3DConfig", "C3D", "C3D_SIZES", "c3d_config"]


@dataclass(frozen=True)
class C3DConfig(BaselineConfig):
    """The 3-D CNN's architecture, input shape and output scale."""

    n_steps: int = 7  # T months
    in_channels: int = 9  # C bands
    tile_px: int = 50  # t, the tile's side in pixels
    channels: tuple[int, ...] = (64, 128, 256, 256)  # one 3x3x3 conv block each
    dense: int = 512
    dropout: float = 0.3
    target_mean: float = 0.0
    target_std: float = 1.0

    model_name: ClassVar[str] = "c3d"


C3D_SIZES: dict[str, dict[str, Any]] = {"paper": {}, "demo": {"channels": (8, 16, 32), "dense": 64}}
"""Named sizes as overrides of the :class:`C3DConfig` defaults."""


def c3d_config(size: str, input_shape: tuple[int, ...], target_mean: float, target_std: float) -> C3DConfig:
    """The config at ``size`` for tiles of shape (T, C, t, t)."""
    t, c, px, _ = (int(v) for v in input_shape)
    return sized(C3DConfig, C3D_SIZES, size, n_steps=t, in_channels=c, tile_px=px, target_mean=target_mean, target_std=target_std)


class C3D(BaselineNet):
    """(B, T, C, t, t) standardised tiles -> 3-D conv blocks -> pooled -> dense -> (B,) yields in bu/acre."""

    def __init__(self, config: C3DConfig) -> None:
        super().__init__()
        self.config = config
        self.input_shape = (config.n_steps, config.in_channels, config.tile_px, config.tile_px)
        layers: list[nn.Module] = []
        width = config.in_channels
        for i, ch in enumerate(config.channels):
            layers += [nn.Conv3d(width, ch, 3, padding=1, bias=False), nn.BatchNorm3d(ch), nn.ReLU(inplace=True)]
            if i < len(config.channels) - 1:
                layers.append(nn.MaxPool3d((1, 2, 2), ceil_mode=True))
            width = ch
        self.convs = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width, config.dense), nn.ReLU())
        self.head = nn.Linear(config.dense, 1)

    def features(self, x: Tensor) -> Tensor:
        """(B, T, C, t, t) -> (B, dense)."""
        z = self.convs(x.permute(0, 2, 1, 3, 4))  # (B, C, T, t, t) -> (B, ch, T, t', t')
        return self.dense(z.mean(dim=(2, 3, 4)))
