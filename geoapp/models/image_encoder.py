"""A small CNN image encoder for satellite patches (the image side of contrastive pretraining).

Four conv blocks (conv-BN-ReLU x2, then 2x2 max-pool) widening 32 -> 256 channels, global average
pooling and a linear projection to the embedding. Input: uint8 or float patches (B, H, W, C) or
(B, C, H, W); uint8 is scaled to [0, 1] and each channel standardised with fixed statistics.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["PatchEncoder", "to_chw_float"]


def to_chw_float(images: Tensor, channels: int) -> Tensor:
    """Patches as float (B, C, H, W) in [0, 1]; accepts (B, H, W, C) or (B, C, H, W), uint8 or float."""
    if images.dim() != 4:
        raise ValueError(f"expected a batch of images (B, H, W, C), got shape {tuple(images.shape)}")
    if images.shape[1] != channels and images.shape[-1] == channels:
        images = images.permute(0, 3, 1, 2)
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    return x.contiguous()


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class PatchEncoder(nn.Module):
    """CNN mapping image patches to embeddings.

    Args:
        in_channels: 3 (RGB) or 4 (RGB + shaded relief).
        embed_dim: output size D.
        width: channels of the first block (doubles each block).
    """

    def __init__(self, in_channels: int = 3, embed_dim: int = 256, width: int = 32) -> None:
        super().__init__()
        self.in_channels = in_channels
        widths = [width, width * 2, width * 4, width * 8]
        self.features = nn.Sequential(
            _block(in_channels, widths[0]),
            _block(widths[0], widths[1]),
            _block(widths[1], widths[2]),
            _block(widths[2], widths[3]),
        )
        self.head = nn.Sequential(nn.Linear(widths[3], widths[3]), nn.ReLU(inplace=True), nn.Linear(widths[3], embed_dim))
        self.register_buffer("mean", torch.full((1, in_channels, 1, 1), 0.35))
        self.register_buffer("std", torch.full((1, in_channels, 1, 1), 0.25))

    def forward(self, images: Tensor) -> Tensor:
        """Embed patches: (B, H, W, C) or (B, C, H, W) -> (B, D)."""
        x = (to_chw_float(images, self.in_channels) - self.mean) / self.std
        x = self.features(x)
        return self.head(x.mean(dim=(2, 3)))
