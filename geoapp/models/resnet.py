"""The spatial encoder g(.) of SEMI-HA: a ResNet-18-style CNN with the classification layer removed.

Paper: "Context-aware ... hybrid attention" (``seeds/000_c3504549b90f76f9.txt``), Section III-B: "we use
a modified ResNet-18 architecture [26] where the final classification layer is removed ... the CNNs map
[each image] to an m-dimensional embedding, denoted as g(.) in R^m". The same g is shared by every month
and by the anchor and its context tiles (SN, SD, TN).

Layout (He et al. 2016, ResNet-18, written out here so that geoapp needs no torchvision):

- stem: 7x7 conv stride 2 + BatchNorm + ReLU + 3x3 max-pool stride 2 (``small_input=False``), or a 3x3
  conv stride 1 + BatchNorm + ReLU (``small_input=True``);
- four stages of two :class:`BasicBlock` each, ``width``, 2 ``width``, 4 ``width``, 8 ``width`` channels,
  stride 1, 2, 2, 2;
- global average pooling, then a linear layer to the embedding size m (in place of the 1000-way
  classifier). The embedding has no final activation: the unsupervised losses (Eq. 3-5) measure
  Euclidean distances and norms of g(.) in all of R^m.

Why ``small_input``: the ImageNet stem shrinks a tile 4x before the first block. On the paper's 50x50
px tiles that leaves 13x13 -> 7 -> 4 -> 2 px maps, which is fine; on the demo's 16x16 px tiles it leaves
4x4 maps after the stem and 1x1 maps in the last two stages, where a 3x3 convolution sees mostly zero
padding and the tile's spatial pattern is gone after one stage. A 3x3 stride-1 stem keeps 16 -> 8 -> 4
-> 2 px through the stages (the CIFAR variant of ResNet, also what Tile2Vec [3] and the paper's public
code use for tiles).

``width=64`` is ResNet-18's width (about 11.5 M parameters with 9 bands and m = 512); a compact width
is for CPU training on the demo data: 8 (0.18 M with m = 64, the ``demo`` size) or 16 (0.71 M).
"""

from __future__ import annotations

import copy

from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from geoapp.errors import InputError

__all__ = ["BasicBlock", "ResNetEncoder", "RESNET18_BLOCKS", "fold_batchnorm"]

RESNET18_BLOCKS: tuple[int, int, int, int] = (2, 2, 2, 2)
"""Basic blocks per stage in ResNet-18."""


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer; got {value!r}")
    return value


class BasicBlock(nn.Module):
    """Two 3x3 conv + BatchNorm layers with an identity (or 1x1 conv + BatchNorm) shortcut.

    Args:
        in_channels: channels of the input map.
        out_channels: channels of the output map.
        stride: stride of the first convolution (2 halves the map size).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride))."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """g(.): a ResNet-18-style CNN mapping one multi-band tile to an m-dimensional embedding.

    Args:
        in_channels: input bands d (9 for geoapp's bands, in the order of ``geoapp.data.bands.BANDS``).
        embed_dim: embedding size m.
        width: channels of the first stage (64 = ResNet-18; 16 or 24 for CPU); stages use
            width x (1, 2, 4, 8).
        small_input: use a 3x3 stride-1 stem without max-pool, for tiles of about 8-32 px (see the module
            docstring); False uses the ImageNet 7x7 stride-2 stem and max-pool (the paper's 50 px tiles).
    """

    def __init__(self, in_channels: int = 9, embed_dim: int = 512, width: int = 64, small_input: bool = False) -> None:
        super().__init__()
        self.in_channels = _check_positive_int(in_channels, "in_channels")
        self.embed_dim = _check_positive_int(embed_dim, "embed_dim")
        self.width = _check_positive_int(width, "width")
        self.small_input = bool(small_input)
        if small_input:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        stages: list[nn.Module] = []
        channels = width
        for i, n_blocks in enumerate(RESNET18_BLOCKS):
            out_channels = width * 2**i
            blocks = [BasicBlock(channels, out_channels, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(out_channels, out_channels) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(channels, embed_dim)  # replaces ResNet-18's classification layer
        self._init_weights()

    @property
    def output_dim(self) -> int:
        """Embedding size m."""
        return self.embed_dim

    def _init_weights(self) -> None:
        # He initialisation for convolutions, BatchNorm as identity (as torchvision's ResNet).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Embed tiles: (B, C, H, W) standardised bands -> (B, m)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"expected tiles of shape (B, {self.in_channels}, H, W); got {tuple(x.shape)} "
                "(bands must be the second axis, in BANDS order)"
            )
        features = self.stages(self.stem(x))
        return self.fc(features.mean(dim=(2, 3)))


def fold_batchnorm(encoder: ResNetEncoder) -> ResNetEncoder:
    """An eval-mode copy of ``encoder`` with every BatchNorm folded into the convolution before it.

    In eval mode BatchNorm is a fixed per-channel affine map, so ``bn(conv(x))`` equals one convolution
    with rescaled weights and a bias; folding removes a pass over every feature map (about 20% of the
    CPU inference time of the demo encoder). Outputs match the unfolded encoder to float32 rounding
    (~1e-5 bu/acre on predictions). The original encoder is left untouched; never train the copy.
    """
    folded = copy.deepcopy(encoder).eval()
    for module in folded.modules():
        if isinstance(module, BasicBlock):
            module.conv1, module.bn1 = fuse_conv_bn_eval(module.conv1, module.bn1), nn.Identity()
            module.conv2, module.bn2 = fuse_conv_bn_eval(module.conv2, module.bn2), nn.Identity()
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i], module[i + 1] = fuse_conv_bn_eval(module[i], module[i + 1]), nn.Identity()
    return folded
