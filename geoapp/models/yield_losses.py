"""The SEMI-HA objective, Eq. 2-6 and 13 of ``seeds/000_c3504549b90f76f9.txt``, one function per term.

Notation: N examples (counties x years) in a batch, T months, m the embedding size; ``a``, ``sn``, ``sd``
and ``tn`` are the CNN embeddings g(A^t), g(SN^t), g(SD^t), g(TN^t), each a (N, T, m) tensor
(``YieldModel.embed`` or ``YieldModel.forward_quadruplet`` gives them). Distances and norms are squared
Euclidean, as the paper writes them.

- Eq. 13, supervised: L_S = 1/N sum_i (y_i - y^_i)^2, in (bu/acre)^2.
- Eq. 3, spatial: L_US^t = max(0, ||g(A^t) - g(SN^t)||^2 - ||g(A^t) - g(SD^t)||^2 + p), a triplet hinge: zero
  once the spatial distant tile is at least p farther (in squared distance) from the anchor than the
  spatial neighbour is; otherwise it pulls A toward SN and pushes it from SD.
- Eq. 4, temporal: L_UT^t = ||g(A^t) - g(TN^t)||^2, pulls A toward TN (no push, no margin).
- Eq. 5, regulariser: L_R^t = ||g(A^t)||^2 + ||g(SN^t)||^2 + ||g(SD^t)||^2 + ||g(TN^t)||^2, divided by sqrt(m)
  as Eq. 6 does (keeps the embeddings on a hypersphere of bounded radius).
- Eq. 6 averages each term over the T months (1/T sum_t). Over the examples it is written as a sum
  (sum_i); here ``reduction="mean"`` (the default) divides by N as well, as L_S does in Eq. 13, so that
  the trade-off weights keep their meaning whatever the batch size; ``reduction="sum"`` is Eq. 6
  literally, and ``reduction="none"`` returns the (N, T) per-example, per-month terms before Eq. 6.
- Eq. 2, total: L = L_S + alpha (L_US + beta L_UT + gamma L_R), defaults alpha 0.2, beta 0.001, gamma 0.2
  (Section IV-E).

The margin p. The paper does not give it. It is in squared embedding units, so it only means something
against the embeddings' scale. The attention adds the positional encoding (entries in [-1, 1],
||PE(t)||^2 = m/2) to the embeddings; for the two to be of comparable size the embeddings need O(1)
coordinates, i.e. squared norms and distances of order m. Hence the default p = m
(:func:`default_margin`): SD should lie, on average, one squared unit per coordinate farther from A
than SN does. Both the hinge and L_R scale with the square of the embeddings, so L_R does not by
itself pin the scale to p; in the shipped runs the embeddings settle at ||g(A)||^2 of about m and the
hinge stays active for most examples and months (docs/crop-yield-model.md). (The public code used
margin 50 on unsquared distances with m = 512: 50^2 = 2500 in squared units.)
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from geoapp.errors import InputError

__all__ = [
    "Reduction",
    "DEFAULT_ALPHA",
    "DEFAULT_BETA",
    "DEFAULT_GAMMA",
    "default_margin",
    "supervised_loss",
    "spatial_loss",
    "temporal_loss",
    "hypersphere_loss",
    "unsupervised_loss",
    "yield_loss",
]

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

DEFAULT_ALPHA = 0.2  # weight of the whole unsupervised part (the paper used 0.1 for test year 2016)
DEFAULT_BETA = 0.001  # weight of the temporal term L_UT inside it
DEFAULT_GAMMA = 0.2  # weight of the hypersphere regulariser L_R inside it


def default_margin(embed_dim: int) -> float:
    """Return the default margin p of Eq. 3: p = m (one squared unit per embedding coordinate)."""
    return float(embed_dim)


def _check_embeddings(*tensors: Tensor, names: tuple[str, ...]) -> None:
    first = tensors[0]
    if first.dim() != 3:
        raise InputError(f"embedding {names[0]!r} must be (N, T, m); got shape {tuple(first.shape)}")
    for tensor, name in zip(tensors[1:], names[1:], strict=True):
        if tensor.shape != first.shape:
            raise InputError(
                f"embedding {name!r} has shape {tuple(tensor.shape)} but {names[0]!r} has {tuple(first.shape)}; "
                "the anchor and its context tiles must be embedded for the same examples and months"
            )


def _reduce(per_step: Tensor, reduction: str) -> Tensor:
    """(N, T) -> Eq. 6's 1/T sum over months, then mean or sum over examples; or unchanged."""
    if reduction not in REDUCTIONS:
        raise InputError(f"unknown reduction {reduction!r}; expected one of {list(REDUCTIONS)}")
    if reduction == "none":
        return per_step
    per_example = per_step.mean(dim=1)
    return per_example.mean() if reduction == "mean" else per_example.sum()


def _sq_dist(x: Tensor, y: Tensor) -> Tensor:
    return ((x - y) ** 2).sum(dim=-1)


def supervised_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Eq. 13: mean squared error between predicted and true yields.

    Args:
        prediction: (N,) predicted yields, bu/acre.
        target: (N,) true yields, bu/acre.

    Returns:
        Scalar L_S in (bu/acre)^2.
    """
    if prediction.shape != target.shape or prediction.dim() != 1:
        raise InputError(f"prediction and target must both be (N,); got {tuple(prediction.shape)} and {tuple(target.shape)}")
    return ((target - prediction) ** 2).mean()


def spatial_loss(a: Tensor, sn: Tensor, sd: Tensor, margin: float, reduction: Reduction = "mean") -> Tensor:
    """Eq. 3 (averaged as in Eq. 6): max(0, ||a - sn||^2 - ||a - sd||^2 + p).

    Args:
        a: (N, T, m) embeddings g(A^t) of the anchor.
        sn: (N, T, m) embeddings of the spatial neighbour.
        sd: (N, T, m) embeddings of the spatial distant tile.
        margin: p >= 0, in squared embedding units.
        reduction: "mean" (over months, then examples), "sum" (mean over months, sum over examples),
            or "none" for the (N, T) terms.
    """
    _check_embeddings(a, sn, sd, names=("a", "sn", "sd"))
    if not math.isfinite(margin) or margin < 0:
        raise InputError(f"margin p must be a finite number >= 0; got {margin!r}")
    per_step = torch.clamp(_sq_dist(a, sn) - _sq_dist(a, sd) + margin, min=0.0)
    return _reduce(per_step, reduction)


def temporal_loss(a: Tensor, tn: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Eq. 4 (averaged as in Eq. 6): ||a - tn||^2.

    Args:
        a: (N, T, m) embeddings of the anchor.
        tn: (N, T, m) embeddings of its temporal neighbour.
        reduction: as :func:`spatial_loss`.
    """
    _check_embeddings(a, tn, names=("a", "tn"))
    return _reduce(_sq_dist(a, tn), reduction)


def hypersphere_loss(a: Tensor, sn: Tensor, sd: Tensor, tn: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Eq. 5 divided by sqrt(m) (as in Eq. 6): (||a||^2 + ||sn||^2 + ||sd||^2 + ||tn||^2) / sqrt(m).

    Args:
        a: (N, T, m) embeddings of the anchor.
        sn: (N, T, m) embeddings of the spatial neighbour.
        sd: (N, T, m) embeddings of the spatial distant tile.
        tn: (N, T, m) embeddings of the temporal neighbour.
        reduction: as :func:`spatial_loss`.
    """
    _check_embeddings(a, sn, sd, tn, names=("a", "sn", "sd", "tn"))
    per_step = sum((x**2).sum(dim=-1) for x in (a, sn, sd, tn)) / math.sqrt(a.shape[-1])
    return _reduce(per_step, reduction)  # type: ignore[arg-type]


def unsupervised_loss(
    a: Tensor,
    sn: Tensor,
    sd: Tensor,
    tn: Tensor,
    margin: float | None = None,
    beta: float = DEFAULT_BETA,
    gamma: float = DEFAULT_GAMMA,
    reduction: Literal["mean", "sum"] = "mean",
) -> dict[str, Tensor]:
    """Eq. 6: the three unsupervised terms and L_US + beta L_UT + gamma L_R.

    Args:
        a: (N, T, m) embeddings of the anchor.
        sn: (N, T, m) embeddings of the spatial neighbour.
        sd: (N, T, m) embeddings of the spatial distant tile.
        tn: (N, T, m) embeddings of the temporal neighbour.
        margin: p of Eq. 3; None uses :func:`default_margin` (p = m).
        beta: weight of the temporal term.
        gamma: weight of the regulariser term.
        reduction: "mean" or "sum" over examples (see the module docstring).

    Returns:
        Scalars ``spatial`` (L_US), ``temporal`` (L_UT), ``regulariser`` (L_R / sqrt(m)) and
        ``unsupervised`` (their weighted sum).
    """
    if reduction == "none":
        raise InputError("unsupervised_loss needs reduction 'mean' or 'sum'; call the single terms for 'none'")
    p = default_margin(a.shape[-1]) if margin is None else float(margin)
    terms = {
        "spatial": spatial_loss(a, sn, sd, p, reduction),
        "temporal": temporal_loss(a, tn, reduction),
        "regulariser": hypersphere_loss(a, sn, sd, tn, reduction),
    }
    terms["unsupervised"] = terms["spatial"] + beta * terms["temporal"] + gamma * terms["regulariser"]
    return terms


def yield_loss(
    prediction: Tensor,
    target: Tensor,
    context: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    margin: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    gamma: float = DEFAULT_GAMMA,
    reduction: Literal["mean", "sum"] = "mean",
) -> dict[str, Tensor]:
    """Eq. 2: L = L_S + alpha (L_US + beta L_UT + gamma L_R), every term in a dict.

    Args:
        prediction: (N,) predicted yields, bu/acre.
        target: (N,) true yields, bu/acre.
        context: the (N, T, m) embeddings (a, sn, sd, tn), or None for a supervised-only model (S-HA):
            then ``total`` is L_S alone and no unsupervised key is present.
        margin: p of Eq. 3 (None: p = m).
        alpha: weight of the unsupervised part in Eq. 2 (paper: 0.2).
        beta: weight of L_UT inside it (paper: 0.001).
        gamma: weight of L_R inside it (paper: 0.2).
        reduction: how the unsupervised terms are reduced over examples ("mean" or "sum"); L_S is
            always the mean of Eq. 13.

    Returns:
        ``supervised``, and with context ``spatial``, ``temporal``, ``regulariser``, ``unsupervised``;
        always ``total``, the value to minimise. All scalars.
    """
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not math.isfinite(value) or value < 0:
            raise InputError(f"loss weight {name} must be a finite number >= 0; got {value!r}")
    terms = {"supervised": supervised_loss(prediction, target)}
    if context is None:
        terms["total"] = terms["supervised"]
        return terms
    if len(context) != 4:
        raise InputError(f"context must be the 4 embeddings (a, sn, sd, tn); got {len(context)} tensors")
    a, sn, sd, tn = context
    if a.shape[0] != prediction.shape[0]:
        raise InputError(f"context embeddings hold {a.shape[0]} examples but the predictions {prediction.shape[0]}")
    terms.update(unsupervised_loss(a, sn, sd, tn, margin=margin, beta=beta, gamma=gamma, reduction=reduction))
    terms["total"] = terms["supervised"] + alpha * terms["unsupervised"]
    return terms
