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

from geoapp.data.args import as_int, as_number, given
from geoapp.errors import InputError

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

    Raises:
        InputError: ``x_m``/``y_m`` not 1-D arrays of finite numbers, ``length_km`` not a positive number,
            ``n_fields``/``n_waves`` not whole numbers of at least 1, ``rng`` not a numpy Generator, or a
            ``dtype`` that is not a floating type.
    """
    x, y = _axis(x_m, "x_m"), _axis(y_m, "y_m")
    length_km = as_number(length_km, "length_km", "km")
    n_fields = as_int(n_fields, "n_fields", minimum=1)
    n_waves = as_int(n_waves, "n_waves", minimum=1)
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {given(rng)}")
    if not (isinstance(dtype, type) and issubclass(dtype, np.floating)):
        raise InputError(f"dtype must be a numpy floating type such as np.float32, got {given(dtype)}")
    if n_fields * n_waves * (len(x) + len(y)) > MAX_WAVE_VALUES or n_fields * len(x) * len(y) > MAX_FIELD_VALUES:
        raise InputError(
            f"{n_fields} field(s) of {len(y)} x {len(x)} pixels with {n_waves} waves are too large to draw at once; "
            "draw fewer fields or waves, or a smaller grid"
        )
    scale = 1.0 / (length_km * 1000.0)
    wx = rng.normal(0.0, scale, size=(n_fields, n_waves))
    wy = rng.normal(0.0, scale, size=(n_fields, n_waves))
    phi = rng.uniform(0.0, 2 * np.pi, size=(n_fields, n_waves))
    ax = x[None, :, None] * wx[:, None, :] + phi[:, None, :]  # (F, W, K)
    by = y[None, :, None] * wy[:, None, :]  # (F, H, K)
    cos_x, sin_x = np.cos(ax).astype(dtype), np.sin(ax).astype(dtype)
    cos_y, sin_y = np.cos(by).astype(dtype), np.sin(by).astype(dtype)
    field = np.einsum("fhk,fwk->fhw", cos_y, cos_x) - np.einsum("fhk,fwk->fhw", sin_y, sin_x)
    field *= dtype(np.sqrt(2.0 / n_waves))
    return field


MAX_WAVE_VALUES = 500_000_000
"""Most phase values (fields x waves x (W + H)) one call computes: a few GB in float64."""
MAX_FIELD_VALUES = 2_000_000_000
"""Most output values (fields x H x W) one call returns (the largest geoapp grid holds 200 million pixels)."""


def _axis(values: object, name: str) -> np.ndarray:
    """Pixel-centre coordinates as a 1-D float64 array of finite numbers (phases are computed in float64)."""
    arr = np.asarray(values, dtype=object if isinstance(values, (str, bytes)) else None)
    if arr.ndim != 1 or arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
        raise InputError(f"{name} must be a 1-D array of finite coordinates in metres, got {given(values)}")
    return arr.astype(np.float64)
