"""Contrastive location-image pretraining (CLIP objective), as in SatCLIP / GeoCLIP and the poster.

An image encoder and a location encoder map a patch and its coordinates to D-dimensional embeddings;
both are L2-normalised and compared by a learnable temperature. The loss is the symmetric cross
entropy of CLIP (Radford et al. 2021):

    logits = exp(t) * I @ L^T          (B x B, t the learnable log inverse temperature)
    loss   = (CE(logits, arange(B)) + CE(logits^T, arange(B))) / 2

With a soft-target spread s (km), the one-hot targets become soft: W_ij = exp(-(d_ij / s)^2) over the
batch (d_ij the great-circle distance between the locations of pairs i and j; W_ii = 1 the largest),
and each direction's targets are W's rows normalised to sum to 1: image i's over the locations,
W_ij / sum_k W_ik, and location j's over the images, W_ji / sum_k W_jk (W is symmetric, so the two
are the same matrix; its transpose is not, where neighbourhoods differ in density). Nearby places
count partly as matches: the location embedding is pulled to vary smoothly at the scale s instead of
telling every place apart (a location hash).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["clip_loss", "soft_targets", "ContrastiveModel"]

EARTH_RADIUS_KM = 6371.0088


def clip_loss(image_emb: Tensor, location_emb: Tensor, logit_scale: Tensor, targets: Tensor | None = None) -> Tensor:
    """Symmetric CLIP loss for matched rows of ``image_emb`` (B, D) and ``location_emb`` (B, D).

    Embeddings are L2-normalised here; ``logit_scale`` is the log of the inverse temperature.
    ``targets``: optional (B, B) non-negative match weights W (:func:`soft_targets`; default: the
    identity): image i's targets over the locations are row i of W normalised to sum to 1, location j's
    over the images row j of W^T, normalised the same way.
    """
    img = F.normalize(image_emb, dim=-1)
    loc = F.normalize(location_emb, dim=-1)
    logits = logit_scale.exp() * img @ loc.t()
    if targets is None:
        targets = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))
    weights = targets.to(logits.dtype)
    image_to_location = weights / weights.sum(dim=1, keepdim=True)
    location_to_image = weights.t() / weights.t().sum(dim=1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, image_to_location) + F.cross_entropy(logits.t(), location_to_image))


def soft_targets(lat: Tensor, lon: Tensor, spread_km: float) -> Tensor:
    """(B, B) symmetric match weights exp(-(d_ij / spread)^2) of (B,) locations in degrees (1 on the diagonal).

    :func:`clip_loss` normalises them per direction.
    """
    phi, lam = torch.deg2rad(lat.double()), torch.deg2rad(lon.double())
    xyz = torch.stack([phi.cos() * lam.cos(), phi.cos() * lam.sin(), phi.sin()], dim=1)
    angle = torch.arccos((xyz @ xyz.t()).clamp(-1.0, 1.0))
    return torch.exp(-((angle * EARTH_RADIUS_KM / spread_km) ** 2)).float()


class ContrastiveModel(nn.Module):
    """An image encoder and a location encoder trained against each other.

    Args:
        image_encoder: maps patches (B, H, W, C) to (B, D).
        location_encoder: maps (lat (B,), lon (B,)) in degrees to (B, D).
        init_temperature: initial softmax temperature (CLIP: 0.07).
        min_temperature: the learnable temperature's floor (CLIP: 0.01, a logit scale of 100).
        soft_target_km: spread of the soft targets (:func:`soft_targets`); 0 for exact pairs only.
    """

    def __init__(
        self,
        image_encoder: nn.Module,
        location_encoder: nn.Module,
        init_temperature: float = 0.07,
        min_temperature: float = 0.01,
        soft_target_km: float = 0.0,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.location_encoder = location_encoder
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / max(init_temperature, min_temperature))))
        self.max_logit_scale = math.log(1.0 / min_temperature)
        self.soft_target_km = soft_target_km

    def temperature(self) -> float:
        """The softmax temperature the loss uses now: 1 / exp(logit scale), the scale clamped at its ceiling."""
        return float(1.0 / self.logit_scale.detach().clamp(max=self.max_logit_scale).exp())

    def parameter_groups(self, weight_decay: float) -> list[dict]:
        """AdamW parameter groups: weight decay on the weight matrices and kernels only.

        Biases, normalisation gains and the logit scale (every parameter with fewer than two dimensions)
        are not decayed, as in CLIP: decaying the logit scale pulls the temperature back toward 1, and
        decaying a BatchNorm gain or a bias shrinks what is not a weight of a linear map.
        """
        decay = [p for p in self.parameters() if p.requires_grad and p.ndim >= 2]
        rest = [p for p in self.parameters() if p.requires_grad and p.ndim < 2]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]

    def embed_images(self, images: Tensor) -> Tensor:
        """Unit-norm image embeddings (B, D)."""
        return F.normalize(self.image_encoder(images), dim=-1)

    def embed_locations(self, lat: Tensor, lon: Tensor) -> Tensor:
        """Unit-norm location embeddings (B, D) of points in degrees."""
        return F.normalize(self.location_encoder(lat, lon), dim=-1)

    def forward(self, images: Tensor, lat: Tensor, lon: Tensor) -> Tensor:
        """The CLIP loss of a batch of matched (patch, location) pairs (a scalar)."""
        scale = self.logit_scale.clamp(max=self.max_logit_scale)
        targets = soft_targets(lat, lon, self.soft_target_km) if self.soft_target_km > 0 else None
        return clip_loss(self.image_encoder(images), self.location_encoder(lat, lon), scale, targets)
