"""The floor baseline ``ridge``: ridge regression on spatially averaged monthly features (the paper's LR).

Features are the anchor-tile means of every band and month (T x C = 63 for the paper's inputs),
standardised with training-year statistics; the ridge penalty alpha is chosen on the validation year.
A fitted model is four tensors (so it saves as safetensors like every geoapp model).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["RidgeRegression", "fit_ridge", "ALPHAS"]

ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
"""Penalties tried on the validation year."""


class RidgeRegression(nn.Module):
    """y = ((x - mean) / scale) @ coef + intercept, for features x (N, F); yields in bu/acre."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))
        self.register_buffer("coef", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("intercept", torch.zeros(1, dtype=torch.float64))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N,) predicted yields."""
        z = (features.double() - self.mean) / self.scale
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
    """Fit on training examples, choose alpha by validation MSE; returns the model and the alpha."""
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
