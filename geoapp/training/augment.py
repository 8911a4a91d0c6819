"""Training-time augmentation of crop-yield tiles: the eight symmetries of the square (dihedral group D4).

A county's yield does not depend on which way its tile is turned: the fields the tiles show (rain,
temperature, vegetation, soil) are the same ground whichever side is north. Each training example is
shown, at each step, under one of the eight symmetries of the square, drawn at random: the identity,
the three rotations by 90, 180 and 270 degrees, and the four mirror images. This is a standard
augmentation for convolutional networks on overhead imagery; the SEMI-HA paper does not use it.

Symmetry code ``k`` in 0..7 is applied to the two last (row, column) axes as: transpose when
``k & 4``, then flip the rows when ``k & 1``, then flip the columns when ``k & 2``. Every element of
D4 is one such code.

What it touches:

- only training batches of the models that read tiles (``s-ha``, ``semi-ha``, ``semi-sa``,
  ``semi-ha-loc``, ``c3d``, ``cnn-lstm``); validation, test and prediction see the tiles as they are;
- one symmetry per example for all its months (the months stay aligned) and for all its context
  tiles (anchor, SN, SD, TN): so the paper's temporal neighbour (the anchor one month earlier) is
  still the anchor's own tile, and the trainer still reuses the anchors' embeddings for it;
- the draws come from a generator of the step's key (seed, epoch, rank, step; a stream of its own),
  so a batch depends on its key alone and a resumed run replays the same symmetries.

The models on averaged features or per-band histograms (``ridge``, ``rf``, ``mlp``, ``lstm-gp``,
``cnn-gp``) do not use it: a mean and a histogram of a tile are the same under any symmetry.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from geoapp.data.args import given
from geoapp.errors import InputError

__all__ = ["AUGMENTS", "N_SYMMETRIES", "check_augment", "symmetry_codes", "apply_symmetries", "augment_batch", "augment_rng"]

AUGMENTS: tuple[str, ...] = ("none", "dihedral")
"""``none``: the tiles as they are (the paper); ``dihedral``: one of the eight symmetries of the square per example."""

N_SYMMETRIES = 8
"""Elements of the dihedral group D4 (rotations by multiples of 90 degrees, with and without a mirror)."""

_STREAM = 0xD4
"""Appended to a step's key to seed the augmentation's generator, apart from the context draws'."""


def check_augment(augment: object) -> str:
    """``augment`` if it is one of :data:`AUGMENTS`.

    Raises:
        InputError: anything else, naming the allowed values.
    """
    if not isinstance(augment, str) or augment not in AUGMENTS:
        raise InputError(f"augment must be one of {list(AUGMENTS)!r}, got {given(augment)}")
    return augment


def augment_rng(*key: int) -> np.random.Generator:
    """The generator of one training step's symmetries, seeded by the step's ``key`` (e.g. seed, epoch, rank, step)."""
    return np.random.default_rng([*(int(k) for k in key), _STREAM])


def symmetry_codes(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) int64 symmetry codes, uniform over 0..7 (see the module docstring)."""
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy Generator, got {given(rng)}")
    return rng.integers(0, N_SYMMETRIES, size=int(n), dtype=np.int64)


def _one(tiles: Tensor, code: int) -> Tensor:
    """``tiles`` (..., H, W) under symmetry ``code``; square tiles when the code transposes."""
    if code & 4:
        tiles = tiles.transpose(-1, -2)
    if code & 1:
        tiles = tiles.flip(-2)
    if code & 2:
        tiles = tiles.flip(-1)
    return tiles


def apply_symmetries(tiles: Tensor, codes: np.ndarray) -> Tensor:
    """Each example of ``tiles`` (B, ..., H, W) under its symmetry ``codes[b]``; a new tensor of the same shape.

    Examples with the same code are transformed together (at most eight tensor operations).

    Raises:
        InputError: ``codes`` is not one code in 0..7 per example, or the tiles are not square
            (a transpose would change their shape).
    """
    codes = np.asarray(codes)
    if tiles.dim() < 3 or codes.shape != (tiles.shape[0],) or codes.dtype.kind not in "iu":
        raise InputError(
            f"need tiles (B, ..., H, W) and one whole symmetry code per example; got tiles {tuple(tiles.shape)} "
            f"and codes of shape {codes.shape}"
        )
    if codes.size and (codes.min() < 0 or codes.max() >= N_SYMMETRIES):
        raise InputError(f"symmetry codes must lie in 0..{N_SYMMETRIES - 1}, got {sorted(set(codes.tolist()))}")
    if tiles.shape[-1] != tiles.shape[-2]:
        raise InputError(f"dihedral augmentation needs square tiles, got {tiles.shape[-2]} x {tiles.shape[-1]} px")
    out = tiles.clone()
    for code in np.unique(codes).tolist():
        if code == 0:
            continue
        rows = torch.from_numpy(np.flatnonzero(codes == code))
        out[rows] = _one(tiles[rows], int(code))
    return out


def augment_batch(batch: Mapping[str, Tensor], keys: tuple[str, ...], rng: np.random.Generator) -> dict[str, Tensor]:
    """``batch`` with the tiles under ``keys`` (each (B, T, C, H, W)) turned by one symmetry per example.

    The same symmetry applies to an example's tiles under every key (its anchor and context tiles).
    The other entries (targets, indices, masks) are kept as they are.
    """
    present = [k for k in keys if k in batch]
    if not present:
        raise InputError(f"the batch holds none of the tile keys {list(keys)}; it has {sorted(batch)}")
    n = batch[present[0]].shape[0]
    codes = symmetry_codes(n, rng)
    return {k: (apply_symmetries(v, codes) if k in present else v) for k, v in batch.items()}
