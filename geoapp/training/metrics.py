"""Scores of predicted county yields: the one place every trainer, evaluation and benchmark takes them from.

RMSE in bu/acre and the coefficient of determination R^2 = 1 - SSE / SST, the two figures of the
paper's Table II.
"""

from __future__ import annotations

import math

import numpy as np

from geoapp.data.args import given
from geoapp.errors import InputError

__all__ = ["rmse_r2"]


def rmse_r2(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """RMSE (bu/acre) and R^2 of predictions ``p`` (N,) for targets ``y`` (N,).

    NaN for both when N is 0 (nothing scored: callers refuse it,
    :func:`~geoapp.training.results.check_scores`); NaN R^2 when every target is the same.

    Raises:
        InputError: ``y`` or ``p`` is not a 1-D array of numbers, or they differ in length (a prediction
            per target is needed; arrays of other lengths would be broadcast into a wrong score).
    """
    y, p = _values(y, "y"), _values(p, "p")
    if len(y) != len(p):
        raise InputError(f"y and p must hold one prediction per target, got {len(y)} targets and {len(p)} predictions")
    if len(y) == 0:  # nothing scored: callers refuse it (check_scores)
        return math.nan, math.nan
    err = p - y
    sst = float(np.sum((y - np.mean(y)) ** 2))
    return float(np.sqrt(np.mean(err**2))), float(1.0 - np.sum(err**2) / sst) if sst > 0 else float("nan")


def _values(values: object, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array; refuses None, text, scalars and arrays of other shapes."""
    if values is None or isinstance(values, (str, bytes, dict)):
        raise InputError(f"{name} must be a 1-D array of yields (bu/acre), got {given(values)}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a 1-D array of yields (bu/acre), got {given(values)}") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of yields (bu/acre), got an array of shape {arr.shape}")
    return arr
