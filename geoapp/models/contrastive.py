"""Contrastive location-image pretraining (CLIP objective), as in SatCLIP / GeoCLIP and the poster.

An image encoder and a location encoder map a patch and its coordinates to D-dimensional embeddings;
both are L2-normalised and compared by a learnable temperature. The loss is the symmetric cross
entropy of CLIP (Radford et al. 2021):

    logits = exp(t) * I @ L^T          (B x B, t the learnable log inverse temperature)
    loss   = (CE(logits, arange(B)) + CE(logits^T, arange(B))) / 2
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["clip_loss", "ContrastiveModel"]


def clip_loss(image_emb: Tensor, location_emb: Tensor, logit_scale: Tensor) -> Tensor:
    """Symmetric CLIP loss for matched rows of ``image_emb`` (B, D) and ``location_emb`` (B, D).

    Embeddings are L2-normalised here; ``logit_scale`` is the log of the inverse temperature.
    """
    img = F.normalize(image_emb, dim=-1)
    loc = F.normalize(location_emb, dim=-1)
    logits = logit_scale.exp() * img @ loc.t()
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


class ContrastiveModel(nn.Module):
    """An image encoder and a location encoder trained against each other.

    Args:
        image_encoder: maps patches (B, H, W, C) to (B, D).
        location_encoder: maps (lat (B,), lon (B,)) in degrees to (B, D).
        init_temperature: initial softmax temperature (CLIP: 0.07); the scale is clamped at 100.
    """

    def __init__(self, image_encoder: nn.Module, location_encoder: nn.Module, init_temperature: float = 0.07) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.location_encoder = location_encoder
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def embed_images(self, images: Tensor) -> Tensor:
        """Unit-norm image embeddings (B, D)."""
        return F.normalize(self.image_encoder(images), dim=-1)

    def embed_locations(self, lat: Tensor, lon: Tensor) -> Tensor:
        """Unit-norm location embeddings (B, D) of points in degrees."""
        return F.normalize(self.location_encoder(lat, lon), dim=-1)

    def forward(self, images: Tensor, lat: Tensor, lon: Tensor) -> Tensor:
        """The CLIP loss of a batch of matched (patch, location) pairs (a scalar)."""
        scale = self.logit_scale.clamp(max=math.log(100.0))
        return clip_loss(self.image_encoder(images), self.location_encoder(lat, lon), scale)
