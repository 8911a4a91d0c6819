"""Real orthonormal spherical harmonics of a point on the globe, by a stable recurrence.

``spherical_harmonics(lat, lon, degree)`` returns, for each point, the (degree + 1)^2 real spherical
harmonics Y_lm (l = 0..degree, m = -l..l) used as a positional encoding by SatCLIP (Russwurm et al.
2024, "Geographic location encoding with spherical harmonics and sinusoidal representation networks",
ICLR). Unlike expanded closed forms (which lose accuracy past degree ~40 in float64 and ~20 in
float32), the associated Legendre functions come from the standard fully normalised recurrences used
in geodesy (Holmes & Featherstone 2002, J. Geodesy 76:279; SHTOOLS' orthonormalised functions):

    sectoral   P_mm     = sqrt((2m + 1) / (2m)) * sin(theta) * P_(m-1)(m-1),   P_00 = 1 / sqrt(4 pi)
    first      P_(m+1)m = sqrt(2m + 3) * cos(theta) * P_mm
    three-term P_lm     = a_lm cos(theta) P_(l-1)m - b_lm P_(l-2)m,
               a_lm = sqrt((4l^2 - 1) / (l^2 - m^2)),
               b_lm = sqrt((2l + 1) (l + m - 1) (l - m - 1) / ((l - m) (l + m) (2l - 3)))

where theta is the colatitude. The recurrence runs on the *scaled* functions P_lm / sin(theta)^m,
whose sectoral values are constants, so nothing in it can underflow near the poles at high degree; the
factor sin(theta)^m is applied at the end together with cos(m lon) or sin(m lon), where a tiny true
value underflows to 0 harmlessly. The scaled values stay below about e^(L / e), far inside float64.

Arithmetic is float64 inside for float32 inputs too, and the result is cast back: near a pole a
float32 cos(theta) cannot resolve 1 - cos(theta) (about 1e-6 at 0.1 degree from the pole), where
P_l0 changes by ~l^2 / 2 per unit of cos(theta), which costs ~4e-4 relative at L = 100. The output is
written degree by degree into one (N, (L+1)^2) tensor, so no full-size float64 temporary is made.

Convention (stated once, used everywhere), with theta = 90 deg - lat the colatitude, phi = lon::

    Y_lm = sqrt(2) * P_l|m|(cos theta) * sin(|m| phi)   for m < 0
    Y_l0 =           P_l0(cos theta)
    Y_lm = sqrt(2) * P_lm(cos theta) * cos(m phi)       for m > 0

with P_lm the orthonormalised associated Legendre functions *without* the Condon-Shortley phase
(geodesy / SHTOOLS ``csphase=1``), so that each Y_lm integrates to 1 in square over the unit sphere
(area 4 pi) and sum_m Y_lm^2 = (2l + 1) / (4 pi) everywhere (the addition theorem). In terms of the
complex harmonics with the Condon-Shortley phase (physics, ``scipy.special.sph_harm_y``):
Y_lm = sqrt(2) (-1)^m Re Y_l^m for m > 0 and Y_lm = sqrt(2) (-1)^m Im Y_l^|m| for m < 0.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from geoapp.errors import InputError

__all__ = ["MAX_DEGREE", "WORK_DTYPE", "check_latlon", "num_harmonics", "spherical_harmonics"]

MAX_DEGREE = 1000
"""Largest degree accepted (the output alone has (L+1)^2 columns per point; float64 stays exact past it)."""

WORK_DTYPE = torch.float64
"""The dtype of the arithmetic inside, whatever the inputs' dtype (see the module docstring)."""


def num_harmonics(degree: int) -> int:
    """Number of real spherical harmonics of degrees 0..``degree``: (degree + 1)^2."""
    return (int(degree) + 1) ** 2


def spherical_harmonics(lat: Tensor, lon: Tensor, degree: int) -> Tensor:
    """Real orthonormal spherical harmonics Y_lm(lat, lon) for l = 0..``degree``, m = -l..l.

    Args:
        lat: latitudes in degrees, shape (N,), in [-90, 90]; float32 or float64, any device.
        lon: longitudes in degrees, shape (N,); values outside [-180, 180] wrap (lon and lon + 360 give
            the same harmonics).
        degree: the largest degree L, an integer in [0, ``MAX_DEGREE``].

    Returns:
        (N, (L + 1)^2) tensor of the dtype and device of the inputs, ordered by l then m: degree l
        occupies columns l^2 .. (l + 1)^2 - 1 and Y_lm sits in column l^2 + l + m. Differentiable with
        respect to ``lat`` and ``lon``. The convention (no Condon-Shortley phase) is in the module
        docstring.

    Raises:
        InputError: NaN coordinates, a latitude outside [-90, 90], infinite longitudes, mismatched
            shapes or devices, an unsupported dtype, or a bad degree.
    """
    degree = _check_degree(degree)
    lat, lon = check_latlon(lat, lon)
    n = lat.shape[0]
    lat_w = lat.to(WORK_DTYPE)
    cos_theta = torch.sin(torch.deg2rad(lat_w))
    # sin(colatitude) = cos(lat), written so that it is >= 0 and exactly 0 at the poles (cos(pi/2) is
    # not 0 in floating point); |lat| has the right derivative everywhere, including lat = 0.
    sin_theta = torch.sin(torch.deg2rad(90.0 - lat_w.abs()))
    positive, negative = _longitude_factors(sin_theta, lon, degree)
    out = torch.empty(n, num_harmonics(degree), dtype=lat.dtype, device=lat.device)
    for l, row in enumerate(_scaled_legendre(cos_theta, degree)):  # row: (N, l + 1), m = 0..l
        first = l * l + l  # the column of Y_l0
        out[:, first : first + l + 1] = row * positive[:, : l + 1]  # m = 0..l
        if l:
            out[:, first - l : first] = row[:, 1:].flip(1) * negative[:, degree - l :]  # m = -l..-1
    return out


def check_latlon(lat: Tensor, lon: Tensor) -> tuple[Tensor, Tensor]:
    """Validate a batch of coordinates in degrees; return ``(lat, lon)`` with longitudes wrapped.

    Every location encoding calls this first. ``lat`` and ``lon`` are (N,) tensors (array-likes are
    converted; integers become the default float dtype) of the same shape and device; mixed float32 /
    float64 promote to float64. Longitudes outside [-180, 180] wrap into [-180, 180); those inside are
    returned unchanged (bit for bit). The wrap is differentiable (its derivative is 1).

    Raises:
        InputError: NaN in either, a latitude outside [-90, 90] (or infinite), an infinite longitude,
            shapes other than two equal (N,), different devices, or a dtype other than float32/float64.
    """
    lat, lon = _as_float_tensor(lat, "lat"), _as_float_tensor(lon, "lon")
    if lat.ndim != 1 or lon.ndim != 1 or lat.shape != lon.shape:
        raise InputError(
            f"lat and lon must be 1-D tensors of the same length (N,); got shapes {tuple(lat.shape)} and {tuple(lon.shape)}"
        )
    if lat.device != lon.device:
        raise InputError(f"lat and lon must be on the same device; got {lat.device} and {lon.device}")
    dtype = torch.promote_types(lat.dtype, lon.dtype)
    lat, lon = lat.to(dtype), lon.to(dtype)
    with torch.no_grad():
        nan = torch.isnan(lat) | torch.isnan(lon)
        if bool(nan.any()):
            i = int(nan.nonzero()[0, 0])
            raise InputError(
                f"coordinates must not be NaN: {int(nan.sum())} of {len(lat)} points are (first at index {i}: "
                f"lat={float(lat[i])}, lon={float(lon[i])}); are there missing values in the input?"
            )
        bad = lat.abs() > 90.0
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise InputError(
                f"latitude must lie in [-90, 90] degrees; got {float(lat[i])} at index {i} "
                f"({int(bad.sum())} of {len(lat)} points out of range); are lat and lon swapped?"
            )
        inf = torch.isinf(lon)
        if bool(inf.any()):
            i = int(inf.nonzero()[0, 0])
            raise InputError(f"longitude must be finite; got {float(lon[i])} at index {i}")
        outside = (lon < -180.0) | (lon > 180.0)
        wrap = bool(outside.any())
    if wrap:
        lon = torch.where(outside, torch.remainder(lon + 180.0, 360.0) - 180.0, lon)
    return lat, lon


# ---- the recurrence --------------------------------------------------------------------------
def _scaled_legendre(cos_theta: Tensor, degree: int) -> Iterator[Tensor]:
    """Yield, for l = 0..degree, the (N, l + 1) tensor of P_lm(cos theta) / sin(theta)^m, m = 0..l.

    The recurrence in l runs for all m at once; the scaled sectoral values P_mm / sin^m are constants,
    so nothing here depends on sin(theta) or can underflow. (In-place steps act only on fresh
    intermediates that autograd does not keep.)
    """
    n = cos_theta.shape[0]
    coef = _coefficients(degree, cos_theta.dtype, cos_theta.device)
    t = cos_theta.unsqueeze(1)
    prev2: Tensor | None = None
    prev = coef.sectoral[0:1].expand(n, 1)
    yield prev
    for l in range(1, degree + 1):
        head = t * prev  # then a_lm t P_(l-1)m for m = 0..l-1; a_l,l-1 = sqrt(2l + 1) starts column l-1
        head.mul_(coef.a[l])
        if prev2 is not None:
            head[:, : l - 1].addcmul_(prev2, coef.minus_b[l])
        prev2, prev = prev, torch.cat([head, coef.sectoral[l : l + 1].expand(n, 1)], dim=1)
        yield prev


def _longitude_factors(sin_theta: Tensor, lon: Tensor, degree: int) -> tuple[Tensor, Tensor]:
    """The factors that turn scaled Legendre values into harmonics, with s = sin(theta).

    positive (N, L + 1): 1 for m = 0, then sqrt(2) s^m cos(m lon) for m = 1..L;
    negative (N, L): sqrt(2) s^m sin(m lon) for m = L..1 (descending, the order of columns m = -L..-1).

    The angles m * lon are formed in float64 (m lon reaches 100 pi at L = 100, where a float32 product
    would carry ~1e-5 rad of rounding).
    """
    m = torch.arange(1, degree + 1, dtype=WORK_DTYPE, device=lon.device)
    angle = torch.deg2rad(lon.to(WORK_DTYPE)).unsqueeze(1) * m
    # s^m for m >= 1 only: d/ds s^0 would be 0 * s^-1 = NaN at the poles.
    power = math.sqrt(2.0) * torch.pow(sin_theta.unsqueeze(1), m)
    one = torch.ones(lon.shape[0], 1, dtype=WORK_DTYPE, device=lon.device)
    return torch.cat([one, power * torch.cos(angle)], dim=1), (power * torch.sin(angle)).flip(1)


class _Coefficients:
    """Recurrence constants for one (degree, dtype, device): a[l] (l,), minus_b[l] (l-1,), sectoral (L+1,)."""

    def __init__(self, degree: int, dtype: torch.dtype, device: torch.device) -> None:
        a: list[Tensor] = [torch.empty(0)]
        minus_b: list[Tensor] = [torch.empty(0), torch.empty(0)]
        for l in range(1, degree + 1):
            m = np.arange(l, dtype=np.float64)
            a_l = np.sqrt((4.0 * l * l - 1.0) / (l * l - m * m))  # at m = l-1 this is sqrt(2l + 1)
            a.append(torch.as_tensor(a_l, dtype=dtype, device=device))
            if l >= 2:
                m = m[: l - 1]
                b_l = np.sqrt((2 * l + 1) * (l + m - 1) * (l - m - 1) / ((l - m) * (l + m) * (2 * l - 3)))
                minus_b.append(torch.as_tensor(-b_l, dtype=dtype, device=device))
        k = np.arange(1, degree + 1, dtype=np.float64)
        sectoral = np.concatenate([[1.0], np.cumprod(np.sqrt((2 * k + 1) / (2 * k)))]) / math.sqrt(4 * math.pi)
        self.a, self.minus_b = a, minus_b
        self.sectoral = torch.as_tensor(sectoral, dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _coefficients(degree: int, dtype: torch.dtype, device: torch.device) -> _Coefficients:
    return _Coefficients(degree, dtype, device)


# ---- validation helpers ----------------------------------------------------------------------
def _as_float_tensor(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be a tensor of degrees; got {type(x).__name__}: {exc}") from exc
    if x.dtype in (torch.float32, torch.float64):
        return x
    if x.dtype == torch.bool or x.is_complex() or x.dtype in (torch.float16, torch.bfloat16):
        raise InputError(f"{name} must be float32 or float64 (degrees); got dtype {x.dtype}")
    return x.to(torch.get_default_dtype())  # integer degrees


def _check_degree(degree: object) -> int:
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 0 <= degree <= MAX_DEGREE:
        raise InputError(f"degree must be an integer in [0, {MAX_DEGREE}]; got {degree!r}")
    return int(degree)
