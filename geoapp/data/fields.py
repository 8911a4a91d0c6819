"""Smooth random fields on a grid, defined in metres so they do not depend on the grid's resolution.

A field is a sum of K random cosine waves (random Fourier features) whose wave vectors are drawn from
the spectral density of a squared-exponential covariance with length scale ``length_km``:

    f(x, y) = sqrt(2 / K) * sum_k cos(wx_k * x + wy_k * y + phi_k),  w ~ N(0, 1 / l^2),  phi ~ U(0, 2 pi)

so f has zero mean, unit variance and correlation exp(-d^2 / (2 l^2)) as K grows. The same seed draws
the same waves at any resolution, so a 1 km grid and a 4 km grid see the same world. Each wave is
separable in x and y (cos(a + b) = cos a cos b - sin a sin b), so a whole field is two matrix products.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_fields"]


def random_fields(
    x_m: np.ndarray,
    y_m: np.ndarray,
    length_km: float,
    n_fields: int,
    rng: np.random.Generator,
    n_waves: int = 64,
    dtype: type = np.float32,
) -> np.ndarray:
    """Draw ``n_fields`` independent smooth fields on the grid spanned by ``x_m`` and ``y_m``.

    Args:
        x_m: pixel-centre x coordinates in metres, shape (W,).
        y_m: pixel-centre y coordinates in metres, shape (H,).
        length_km: correlation length scale in km.
        n_fields: number of independent fields F.
        rng: random generator; the draws depend only on it, ``length_km``, ``n_fields`` and ``n_waves``.
        n_waves: number of cosine waves K per field (more waves: closer to Gaussian).
        dtype: floating dtype of the result.

    Returns:
        Array of shape (F, H, W), each field with mean about 0 and standard deviation about 1.
    """
    scale = 1.0 / (length_km * 1000.0)
    wx = rng.normal(0.0, scale, size=(n_fields, n_waves))
    wy = rng.normal(0.0, scale, size=(n_fields, n_waves))
    phi = rng.uniform(0.0, 2 * np.pi, size=(n_fields, n_waves))
    x = np.asarray(x_m, dtype=np.float64)  # phases in float64, products in ``dtype``
    y = np.asarray(y_m, dtype=np.float64)
    ax = x[None, :, None] * wx[:, None, :] + phi[:, None, :]  # (F, W, K)
    by = y[None, :, None] * wy[:, None, :]  # (F, H, K)
    cos_x, sin_x = np.cos(ax).astype(dtype), np.sin(ax).astype(dtype)
    cos_y, sin_y = np.cos(by).astype(dtype), np.sin(by).astype(dtype)
    field = np.einsum("fhk,fwk->fhw", cos_y, cos_x) - np.einsum("fhk,fwk->fhw", sin_y, sin_x)
    field *= dtype(np.sqrt(2.0 / n_waves))
    return field
