"""The Gaussian process on the last hidden layer of ``lstm-gp`` and ``cnn-gp`` (You et al. 2017, Section 4).

J. You et al., "Deep Gaussian Process for Crop Yield Prediction Based on Remote Sensing Data", AAAI
2017. With h(x) the network's last hidden layer and H = [h, 1] (a constant for the bias),

    y(x) = H(x)^T beta + f(x),   f ~ GP(0, k),   beta ~ N(b, B)

over the county location g and year t of each example, with the kernel

    k((g, t), (g', t')) = sigma^2 exp(-|g - g'|^2 / (2 r_loc^2) - (t - t')^2 / (2 r_year^2)) + sigma_e^2 delta

Fitted on the n training examples (after the network is trained), the posterior (Rasmussen and
Williams 2006, Eq. 2.42) gives, for K = k(X, X) + sigma_e^2 I (n x n), K_* = k(X, X_*) (n x m):

    beta_hat = (B^-1 + H^T K^-1 H)^-1 (H^T K^-1 y + B^-1 b)
    y_hat_*  = H_*^T beta_hat + K_*^T K^-1 (y - H beta_hat)

The prior mean b is the trained network's own head in bu/acre, B = sigma_b^2 I (their code's
``sigma_b`` is the prior's spread). Locations are the counties' anchor-pixel centres in the dataset's
projected CRS (EPSG:5070 for the embedded data), in km; locations and years are then scaled as in
their code, (v - mean) / range per axis with the training examples' mean and range, so the length
scales are fractions of the training extent. Defaults are their code's: sigma = 1, r_loc = 0.5,
r_year = 1.5, sigma_e = 0.32, sigma_b = 0.01.

Only n values are kept for prediction: alpha = K^-1 (y - H beta_hat), with the training points'
scaled locations and years (a Cholesky factorisation of K, O(n^3) time and n^2 float64 memory; about
9,000 examples for N_y = 10 on the demo data, 0.65 GB). The trainer fits it on at most
:data:`geoapp.training.network_trainer.GP_MAX_EXAMPLES` examples (a seeded subsample of a larger
training set, recorded in the card), so a user's dataset with many more counties still fits in memory.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.linalg
import torch
from torch import nn

from geoapp.data.args import as_int
from geoapp.errors import InputError

__all__ = ["GPParams", "GaussianProcessLayer", "gp_kernel", "fit_gaussian_process", "gp_card"]


@dataclass(frozen=True)
class GPParams:
    """Kernel and prior hyperparameters (their code's defaults); length scales in units of the training range."""

    sigma: float = 1.0  # kernel standard deviation (bu/acre)
    r_loc: float = 0.5  # location length scale
    r_year: float = 1.5  # year length scale
    sigma_e: float = 0.32  # noise standard deviation
    sigma_b: float = 0.01  # prior standard deviation of beta

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
                raise InputError(f"GP parameter {name!r} must be a finite positive number; got {value!r}")

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dict (checkpoint cards)."""
        return asdict(self)


def gp_kernel(loc_a: np.ndarray, year_a: np.ndarray, loc_b: np.ndarray, year_b: np.ndarray, params: GPParams) -> np.ndarray:
    """The kernel without its noise term: (n, m) float64.

    sigma^2 exp(-|g - g'|^2 / (2 r_loc^2) - (t - t')^2 / (2 r_year^2)) between (n, 2) and (m, 2) scaled
    locations ``loc_a``, ``loc_b`` with (n,), (m,) scaled years ``year_a``, ``year_b``.

    Memory: two (n, m) float64 arrays at the peak (the squared distances as ``|g|^2 + |g'|^2 - 2 g.g'``,
    worked on in place) rather than the four of an (n, m, 2) difference array; measured at n = m = 6,000
    (tracemalloc): 0.58 GB and 0.3 s against 1.15 GB and 2-4 s.
    """
    loc_a, loc_b = np.asarray(loc_a, np.float64), np.asarray(loc_b, np.float64)
    year_a, year_b = np.asarray(year_a, np.float64), np.asarray(year_b, np.float64)
    out = loc_a @ loc_b.T  # (n, m)
    out *= -2.0
    out += (loc_a**2).sum(1)[:, None]
    out += (loc_b**2).sum(1)[None, :]
    np.maximum(out, 0.0, out=out)  # rounding can leave a tiny negative distance
    out *= -1.0 / (2 * params.r_loc**2)
    out -= (year_a[:, None] - year_b[None, :]) ** 2 / (2 * params.r_year**2)
    np.exp(out, out=out)
    out *= params.sigma**2
    return out


class GaussianProcessLayer(nn.Module):
    """A fitted GP residual: prediction = H_*^T beta_hat + K_*^T alpha (see the module docstring).

    Buffers: ``beta`` (d + 1,), ``alpha`` (n,), ``train_loc`` (n, 2) and ``train_year`` (n,) scaled,
    ``loc_mean``, ``loc_range`` (2,) km, ``year_mean``, ``year_range`` (1,); all float64.
    """

    def __init__(self, n_train: int, n_features: int, params: GPParams | None = None) -> None:
        super().__init__()
        n = as_int(n_train, "n_train", minimum=1)
        d = as_int(n_features, "n_features", minimum=1)
        self.params = params or GPParams()
        f64 = torch.float64
        self.register_buffer("beta", torch.zeros(d + 1, dtype=f64))
        self.register_buffer("alpha", torch.zeros(n, dtype=f64))
        self.register_buffer("train_loc", torch.zeros(n, 2, dtype=f64))
        self.register_buffer("train_year", torch.zeros(n, dtype=f64))
        self.register_buffer("loc_mean", torch.zeros(2, dtype=f64))
        self.register_buffer("loc_range", torch.ones(2, dtype=f64))
        self.register_buffer("year_mean", torch.zeros(1, dtype=f64))
        self.register_buffer("year_range", torch.ones(1, dtype=f64))

    def scale(self, loc_km: np.ndarray, year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Locations (m, 2) km and years (m,) scaled with the training examples' mean and range."""
        loc = (np.asarray(loc_km, np.float64) - self.loc_mean.numpy()) / self.loc_range.numpy()
        yr = (np.asarray(year, np.float64) - self.year_mean.numpy()) / self.year_range.numpy()
        return loc, yr

    def predict(self, h: np.ndarray, loc_km: np.ndarray, year: np.ndarray) -> np.ndarray:
        """Yields (m,) in bu/acre for last-layer features ``h`` (m, d), locations (m, 2) km and years (m,)."""
        h = np.asarray(h, np.float64)
        if h.ndim != 2 or h.shape[1] + 1 != len(self.beta):
            raise InputError(f"h must be an (m, {len(self.beta) - 1}) array of features, got shape {h.shape}")
        loc, yr = self.scale(loc_km, year)
        k_star = gp_kernel(self.train_loc.numpy(), self.train_year.numpy(), loc, yr, self.params)  # (n, m)
        hb = np.concatenate([h, np.ones((len(h), 1))], axis=1) @ self.beta.numpy()
        return hb + k_star.T @ self.alpha.numpy()


def fit_gaussian_process(
    h: np.ndarray, y: np.ndarray, loc_km: np.ndarray, year: np.ndarray, prior_mean: np.ndarray, params: GPParams | None = None
) -> GaussianProcessLayer:
    """Fit the GP on training features ``h`` (n, d), yields ``y`` (n,) bu/acre, locations (n, 2) km, years (n,).

    ``prior_mean`` (d + 1,) is b, the network's head on [h, 1] in bu/acre.

    Raises:
        InputError: arrays of mismatched shapes or with non-finite values.
    """
    params = params or GPParams()
    h, y = np.asarray(h, np.float64), np.asarray(y, np.float64)
    loc_km, year = np.asarray(loc_km, np.float64), np.asarray(year, np.float64)
    b = np.asarray(prior_mean, np.float64)
    n = len(y)
    if h.ndim != 2 or len(h) != n or loc_km.shape != (n, 2) or year.shape != (n,) or b.shape != (h.shape[1] + 1,):
        raise InputError(
            f"GP fit needs h (n, d), y (n,), loc_km (n, 2), year (n,) and prior_mean (d + 1,); got {h.shape}, {y.shape}, "
            f"{loc_km.shape}, {year.shape}, {b.shape}"
        )
    if n < 1 or not all(np.isfinite(a).all() for a in (h, y, loc_km, year, b)):
        raise InputError("GP fit needs at least one example and finite features, yields, locations and years")
    gp = GaussianProcessLayer(n, h.shape[1], params)
    loc_range, year_range = np.ptp(loc_km, axis=0), np.ptp(year, keepdims=True)
    gp.loc_mean.copy_(torch.from_numpy(loc_km.mean(0)))
    gp.loc_range.copy_(torch.from_numpy(np.where(loc_range > 0, loc_range, 1.0)))
    gp.year_mean.copy_(torch.from_numpy(year.mean(keepdims=True)))
    gp.year_range.copy_(torch.from_numpy(np.where(year_range > 0, year_range, 1.0)))
    loc, yr = gp.scale(loc_km, year)
    k = gp_kernel(loc, yr, loc, yr, params)
    k[np.diag_indices(n)] += params.sigma_e**2
    factor = scipy.linalg.cho_factor(k, lower=True, overwrite_a=True)  # K = L L^T
    hh = np.concatenate([h, np.ones((n, 1))], axis=1)  # H (n, d + 1)
    k_inv_h = scipy.linalg.cho_solve(factor, hh)
    k_inv_y = scipy.linalg.cho_solve(factor, y)
    b_inv = np.eye(hh.shape[1]) / params.sigma_b**2
    beta = np.linalg.solve(b_inv + hh.T @ k_inv_h, hh.T @ k_inv_y + b_inv @ b)
    alpha = scipy.linalg.cho_solve(factor, y - hh @ beta)
    gp.beta.copy_(torch.from_numpy(beta))
    gp.alpha.copy_(torch.from_numpy(alpha))
    gp.train_loc.copy_(torch.from_numpy(loc))
    gp.train_year.copy_(torch.from_numpy(yr))
    return gp


def gp_card(gp: GaussianProcessLayer) -> dict[str, Any]:
    """The card entry that rebuilds ``gp`` at load: its sizes and hyperparameters."""
    return {"n_train": len(gp.alpha), "n_features": len(gp.beta) - 1, "params": gp.params.to_dict()}
