"""The floor baseline ``ridge``: ridge regression on spatially averaged monthly features (the paper's LR).

Features are the anchor-tile means of every band and month (T x C = 63 for the paper's inputs),
standardised with training-year statistics; the ridge penalty alpha is chosen on the validation year.
A fitted model is four tensors (so it saves as safetensors like every geoapp model).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn

from geoapp.data.args import as_int, given
from geoapp.errors import InputError

__all__ = ["RidgeRegression", "fit_ridge", "ALPHAS"]

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
"""Penalties tried on the validation year."""


class RidgeRegression(nn.Module):
    """y = ((x - mean) / scale) @ coef + intercept, for features x (N, F); yields in bu/acre.

    A missing feature (NaN: a band without data in a tile and month) reads as its training mean (0 once
    standardised), as the other baselines' inputs do.
    """

    def __init__(self, n_features: int) -> None:
        n_features = as_int(n_features, "n_features", minimum=1)
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))
        self.register_buffer("coef", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("intercept", torch.zeros(1, dtype=torch.float64))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features (NaN where missing) -> (N,) predicted yields."""
        z = (features.double() - self.mean) / self.scale
        z = torch.where(torch.isnan(z), torch.zeros((), dtype=z.dtype), z)
        return z @ self.coef + self.intercept


def _solve(z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Closed-form ridge on standardised features (intercept unpenalised)."""
    y_mean = y.mean()
    gram = z.T @ z + alpha * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, z.T @ (y - y_mean))
    return coef, float(y_mean)


def fit_ridge(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, alphas=ALPHAS
) -> tuple[RidgeRegression, float]:
    """Fit on training examples, choose alpha by validation MSE; returns the model and the alpha.

    ``x_train`` (N, F) and ``x_val`` (M, F) are features, ``y_train`` (N,) and ``y_val`` (M,) yields in
    bu/acre; N and M at least 1.

    Raises:
        InputError: an array that is not finite numbers of those shapes, or ``alphas`` not a non-empty
            list of finite positive penalties.
    """
    x_train, x_val = _matrix(x_train, "x_train"), _matrix(x_val, "x_val")
    y_train, y_val = _vector(y_train, "y_train", len(x_train)), _vector(y_val, "y_val", len(x_val))
    if x_val.shape[1] != x_train.shape[1]:
        raise InputError(f"x_val has {x_val.shape[1]} features and x_train {x_train.shape[1]}; expected the same features")
    alphas = _alphas(alphas)
    mean = x_train.mean(axis=0)
    scale = np.maximum(x_train.std(axis=0), 1e-9)
    z_tr, z_va = (x_train - mean) / scale, (x_val - mean) / scale
    best = None
    for alpha in alphas:
        coef, b = _solve(z_tr, y_train, alpha)
        err = float(np.mean((z_va @ coef + b - y_val) ** 2))
        if best is None or err < best[0]:
            best = (err, alpha, coef, b)
    _, alpha, coef, b = best
    model = RidgeRegression(x_train.shape[1])
    model.mean.copy_(torch.from_numpy(mean))
    model.scale.copy_(torch.from_numpy(scale))
    model.coef.copy_(torch.from_numpy(coef))
    model.intercept.fill_(b)
    return model, float(alpha)


def _matrix(x: object, name: str) -> np.ndarray:
    arr = _finite(x, name, "an (N, F) array of finite features")
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{name} must be an (N, F) array of finite features with N, F >= 1, got shape {arr.shape}")
    return arr


def _vector(y: object, name: str, n: int) -> np.ndarray:
    arr = _finite(y, name, f"({n},) finite yields in bu/acre")
    if arr.shape != (n,):
        raise InputError(f"{name} must hold one yield per example, ({n},), got shape {arr.shape}")
    return arr


def _finite(values: object, name: str, expected: str) -> np.ndarray:
    if values is None or isinstance(values, (str, bytes, bool)):
        raise InputError(f"{name} must be {expected}, got {given(values)}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be {expected}, got {given(values)}") from None
    if not np.isfinite(arr).all():
        raise InputError(f"{name} must be {expected}; it holds NaN or infinite values")
    return arr


def _alphas(alphas: object) -> tuple[float, ...]:
    ok = isinstance(alphas, (list, tuple)) and len(alphas) > 0
    ok = ok and all(isinstance(a, numbers.Real) and not isinstance(a, bool) and math.isfinite(a) and a > 0 for a in alphas)
    if not ok:
        raise InputError(f"alphas must be a non-empty list of finite positive penalties, got {given(alphas)}")
    return tuple(float(a) for a in alphas)
