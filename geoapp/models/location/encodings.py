"""Positional encodings of (lat, lon): the fixed first stage of a location encoder.

Each encoding is an ``nn.Module`` with ``forward(lat, lon) -> (N, output_dim)`` taking (N,) tensors
of degrees (validated by :func:`check_latlon`: NaN or a latitude outside [-90, 90] raises
``InputError``; longitudes outside [-180, 180] wrap) and an ``output_dim`` attribute, so the network
after it can be sized from it. Outputs have the inputs' dtype and device and are differentiable.

``ENCODINGS`` maps a name to its class; :func:`make_encoding` builds one from keyword options and
rejects unknown names and options. The names:

- ``spherical_harmonics``: real orthonormal spherical harmonics up to degree L, (L+1)^2 features
  (Russwurm et al. 2024, SatCLIP).
- ``wrap``: sin/cos of lon and lat scaled to [-1, 1], 4 features (Mac Aodha et al. 2019).
- ``grid``, ``theory``: Space2Vec's multi-scale sinusoids of (lon, lat) (Mai et al. 2020).
- ``sphere_c``, ``sphere_m``: Sphere2Vec's multi-scale spherical encodings (Mai et al. 2023).
- ``rff_equal_earth``: GeoCLIP's random Fourier features of Equal Earth coordinates (Vivanco Cepeda
  et al. 2023).

The multi-scale encodings use the geometric radii of Space2Vec: S = ``frequency_num`` scales with
radii r_s = min_radius * (max_radius / min_radius)^(s / (S - 1)) in degrees of arc, and a coordinate
c in degrees enters as the angle c / r_s (radians), so a sinusoid at radius r has wavelength 2 pi r
degrees. With S = 1 the single radius is ``max_radius``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from geoapp.errors import InputError
from geoapp.models.location._checks import check_choice, check_int, check_kwargs, check_positive_float
from geoapp.models.location.spherical_harmonics import (
    MAX_DEGREE,
    check_latlon,
    num_harmonics,
    spherical_harmonics,
)

__all__ = [
    "ENCODINGS",
    "GridEncoding",
    "PositionalEncoding",
    "RFFEqualEarthEncoding",
    "SphereCEncoding",
    "SphereMEncoding",
    "SphericalHarmonicsEncoding",
    "TheoryEncoding",
    "WrapEncoding",
    "equal_earth",
    "make_encoding",
]

ONE_RADIAN_DEG = math.degrees(1.0)
"""57.2958...: the radius (degrees) at which a Sphere2Vec scale is the plain unit-sphere embedding."""


def make_encoding(name: str, **kwargs: Any) -> PositionalEncoding:
    """Build the encoding registered as ``name`` with keyword options ``kwargs``.

    Raises:
        InputError: an unknown name (the message lists ``ENCODINGS``), an unknown option (the message
            lists the allowed ones), or a bad option value.
    """
    cls = check_choice(name, ENCODINGS, "positional encoding")
    check_kwargs(cls, kwargs, f"encoding {name!r}")
    return cls(**kwargs)


class PositionalEncoding(nn.Module):
    """Base class: ``forward(lat, lon)`` maps (N,) degrees to (N, ``output_dim``) features."""

    output_dim: int

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:  # pragma: no cover - abstract
        """(N, ``output_dim``) features of (N,) latitudes and longitudes in degrees."""
        raise NotImplementedError


# ---- spherical harmonics and wrap ------------------------------------------------------------
class SphericalHarmonicsEncoding(PositionalEncoding):
    """Real orthonormal spherical harmonics Y_lm, l = 0..``degree``: (degree + 1)^2 features.

    Russwurm, Klemmer, Rolf, Zbinden, Tuia (2024), "Geographic location encoding with spherical
    harmonics and sinusoidal representation networks", ICLR. SatCLIP uses degree 10 or 40. The
    values come from :func:`spherical_harmonics` (a stable recurrence, accurate to degree 100+ in
    float32 and float64); columns are ordered by l then m.
    """

    def __init__(self, degree: int = 10) -> None:
        super().__init__()
        self.degree = check_int(degree, "degree", 0, MAX_DEGREE)
        self.output_dim = num_harmonics(self.degree)

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, (degree + 1)^2)."""
        return spherical_harmonics(lat, lon, self.degree)


class WrapEncoding(PositionalEncoding):
    """[sin(pi x), sin(pi y), cos(pi x), cos(pi y)] with x = lon / 180, y = lat / 90: 4 features.

    Mac Aodha, Cole, Perona (2019), "Presence-only geographical priors for fine-grained image
    classification", ICCV (their "wrap" input). Continuous across the antimeridian, but the poles are
    not single points (every longitude stays distinct there).
    """

    def __init__(self) -> None:
        super().__init__()
        self.output_dim = 4

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, 4)."""
        lat, lon = check_latlon(lat, lon)
        scaled = torch.stack([lon / 180.0, lat / 90.0], dim=1) * math.pi
        return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


# ---- Space2Vec and Sphere2Vec ----------------------------------------------------------------
class _MultiScale(PositionalEncoding):
    """Shared set-up of the multi-scale encodings: S geometric radii in degrees (a buffer)."""

    features_per_scale: int

    def __init__(self, frequency_num: int, min_radius: float, max_radius: float) -> None:
        super().__init__()
        self.frequency_num = check_int(frequency_num, "frequency_num", 1, 4096)
        self.min_radius = check_positive_float(min_radius, "min_radius")
        self.max_radius = check_positive_float(max_radius, "max_radius")
        if self.max_radius < self.min_radius:
            raise InputError(f"max_radius ({max_radius!r}) must be >= min_radius ({min_radius!r})")
        if self.frequency_num == 1:
            radii = torch.tensor([self.max_radius], dtype=torch.float64)
        else:
            steps = torch.arange(self.frequency_num, dtype=torch.float64) / (self.frequency_num - 1)
            radii = self.min_radius * (self.max_radius / self.min_radius) ** steps
        self.register_buffer("inverse_radii", 1.0 / radii, persistent=False)  # (S,), 1/degree
        self.output_dim = self.features_per_scale * self.frequency_num

    def _angles(self, coord: Tensor) -> Tensor:
        """(N,) degrees -> (N, S) angles in radians, coord / r_s."""
        return coord.unsqueeze(1) * self.inverse_radii.to(coord.dtype)


class GridEncoding(_MultiScale):
    """Space2Vec "grid": [sin, cos](c / r_s) for c in (lon, lat) and each scale: 4 S features.

    Mai, Janowicz, Yan, Zhu, Cai, Lao (2020), "Multi-scale representation learning for spatial
    feature distributions using grid cells", ICLR. As in SatCLIP, (lon, lat) in degrees are the
    planar coordinates; defaults (radii 1 to 360 degrees, 16 scales) follow SatCLIP.
    """

    features_per_scale = 4

    def __init__(self, frequency_num: int = 16, min_radius: float = 1.0, max_radius: float = 360.0) -> None:
        super().__init__(frequency_num, min_radius, max_radius)

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, 4 S), laid out (coordinate lon/lat, scale, sin/cos)."""
        lat, lon = check_latlon(lat, lon)
        angles = torch.stack([self._angles(lon), self._angles(lat)], dim=1)  # (N, 2, S)
        return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)


class TheoryEncoding(_MultiScale):
    """Space2Vec "theory": sinusoids along 3 unit vectors 120 degrees apart: 6 S features.

    Mai et al. (2020), ICLR (see :class:`GridEncoding`). For each unit vector a_j (at 0, 120 and 240
    degrees) and scale s: [sin, cos](<(lon, lat), a_j> / r_s), with (lon, lat) in degrees as planar
    coordinates.
    """

    features_per_scale = 6

    def __init__(self, frequency_num: int = 16, min_radius: float = 1.0, max_radius: float = 360.0) -> None:
        super().__init__(frequency_num, min_radius, max_radius)
        directions = [0.0, 2.0 * math.pi / 3.0, 4.0 * math.pi / 3.0]
        unit = torch.tensor([[math.cos(a), math.sin(a)] for a in directions], dtype=torch.float64)
        self.register_buffer("unit_vectors", unit, persistent=False)  # (3, 2)

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, 6 S), laid out (scale, unit vector, sin/cos)."""
        lat, lon = check_latlon(lat, lon)
        projected = torch.stack([lon, lat], dim=1) @ self.unit_vectors.to(lat.dtype).T  # (N, 3)
        angles = projected.unsqueeze(1) * self.inverse_radii.to(lat.dtype).view(1, -1, 1)  # (N, S, 3)
        return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)


class SphereCEncoding(_MultiScale):
    """Sphere2Vec "sphereC": [sin phi_s, cos phi_s cos lambda_s, cos phi_s sin lambda_s]: 3 S features.

    Mai, Xuan, Zhu, Zhang, Janowicz, Lao, Ermon (2023), "Sphere2Vec: A general-purpose location
    representation learning over a spherical surface for large-scale geospatial predictions", ISPRS
    J. Photogramm. Remote Sens. phi_s = lat / r_s and lambda_s = lon / r_s. At r_s = one radian
    (57.3 degrees, the default ``max_radius``) a scale is exactly the 3-D unit vector of the point.
    """

    features_per_scale = 3

    def __init__(self, frequency_num: int = 16, min_radius: float = 1.0, max_radius: float = ONE_RADIAN_DEG) -> None:
        super().__init__(frequency_num, min_radius, max_radius)

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, 3 S), laid out (scale, feature)."""
        lat, lon = check_latlon(lat, lon)
        phi, lam = self._angles(lat), self._angles(lon)
        cos_phi = torch.cos(phi)
        return torch.stack([torch.sin(phi), cos_phi * torch.cos(lam), cos_phi * torch.sin(lam)], dim=-1).flatten(1)


class SphereMEncoding(_MultiScale):
    """Sphere2Vec "sphereM": 5 S features mixing one scaled and one unscaled angle per term.

    Mai et al. (2023), see :class:`SphereCEncoding`. Per scale, with phi, lambda in radians and
    phi_s = lat / r_s, lambda_s = lon / r_s:
    [sin phi_s, cos phi_s cos lambda, cos phi cos lambda_s, cos phi_s sin lambda, cos phi sin lambda_s].
    """

    features_per_scale = 5

    def __init__(self, frequency_num: int = 16, min_radius: float = 1.0, max_radius: float = ONE_RADIAN_DEG) -> None:
        super().__init__(frequency_num, min_radius, max_radius)

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, 5 S), laid out (scale, feature)."""
        lat, lon = check_latlon(lat, lon)
        phi_s, lam_s = self._angles(lat), self._angles(lon)
        phi, lam = torch.deg2rad(lat).unsqueeze(1), torch.deg2rad(lon).unsqueeze(1)
        cos_phi_s, cos_phi = torch.cos(phi_s), torch.cos(phi)
        features = [
            torch.sin(phi_s),
            cos_phi_s * torch.cos(lam),
            cos_phi * torch.cos(lam_s),
            cos_phi_s * torch.sin(lam),
            cos_phi * torch.sin(lam_s),
        ]
        return torch.stack(features, dim=-1).flatten(1)


# ---- GeoCLIP ---------------------------------------------------------------------------------
_EE_A1, _EE_A2, _EE_A3, _EE_A4 = 1.340264, -0.081106, 0.000893, 0.003796
_EE_SCALE = 66.50336 / 180.0  # GeoCLIP's SF / 180: x spans [-1, 1] at the equator, y about [-0.49, 0.49]


def equal_earth(lat: Tensor, lon: Tensor) -> Tensor:
    """Equal Earth projection (Savric, Patterson, Jenny 2018) scaled as GeoCLIP does: (N, 2) of (x, y).

    ``lat``, ``lon`` in degrees (validated by the caller). x = 2 sqrt(3) lambda cos(theta) /
    (3 (9 A4 theta^8 + 7 A3 theta^6 + 3 A2 theta^2 + A1)), y = A4 theta^9 + A3 theta^7 + A2 theta^3 +
    A1 theta with sin(theta) = sqrt(3)/2 sin(phi); both times 66.50336 / 180.
    """
    phi, lam = torch.deg2rad(lat), torch.deg2rad(lon)
    theta = torch.asin(math.sqrt(3.0) / 2.0 * torch.sin(phi))
    t2 = theta * theta
    denominator = 3.0 * (9.0 * _EE_A4 * t2**4 + 7.0 * _EE_A3 * t2**3 + 3.0 * _EE_A2 * t2 + _EE_A1)
    x = 2.0 * math.sqrt(3.0) * lam * torch.cos(theta) / denominator
    y = theta * (_EE_A4 * t2**4 + _EE_A3 * t2**3 + _EE_A2 * t2 + _EE_A1)
    return torch.stack([x, y], dim=1) * _EE_SCALE


class RFFEqualEarthEncoding(PositionalEncoding):
    """GeoCLIP's input: random Fourier features of Equal Earth coordinates at several scales.

    Vivanco Cepeda, Nayak, Shah (2023), "GeoCLIP: Clip-inspired alignment between locations and images
    for effective worldwide geo-localization", NeurIPS. The point is projected with
    :func:`equal_earth`, then for each sigma a fixed Gaussian matrix B (``encoded_size`` x 2, entries
    N(0, sigma^2)) gives [cos(2 pi B v), sin(2 pi B v)] (Tancik et al. 2020). GeoCLIP feeds each scale
    to its own MLP and sums; here the scales are concatenated: 2 * ``encoded_size`` * len(sigmas)
    features, laid out (sigma, cos/sin, feature). B is drawn from a seeded generator (float64, stored
    as float32 like GeoCLIP's) and kept in the state dict as the buffer ``b`` of shape
    (len(sigmas), encoded_size, 2), so a checkpoint restores the same features.
    """

    def __init__(self, sigmas: tuple[float, ...] = (2.0**0, 2.0**4, 2.0**8), encoded_size: int = 256, seed: int = 0) -> None:
        super().__init__()
        if isinstance(sigmas, (int, float)) or not hasattr(sigmas, "__len__") or len(sigmas) == 0:
            raise InputError(f"sigmas must be a non-empty sequence of positive numbers; got {sigmas!r}")
        self.sigmas = tuple(check_positive_float(s, "each sigma") for s in sigmas)
        self.encoded_size = check_int(encoded_size, "encoded_size", 1, 65536)
        self.seed = check_int(seed, "seed", 0)
        generator = torch.Generator().manual_seed(self.seed)
        gauss = torch.randn(len(self.sigmas), self.encoded_size, 2, generator=generator, dtype=torch.float64)
        scale = torch.tensor(self.sigmas, dtype=torch.float64).view(-1, 1, 1)
        self.register_buffer("b", (gauss * scale).to(torch.float32))
        self.output_dim = 2 * self.encoded_size * len(self.sigmas)

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, 2 * encoded_size * len(sigmas))."""
        lat, lon = check_latlon(lat, lon)
        v = equal_earth(lat, lon)  # (N, 2)
        projected = 2.0 * math.pi * torch.einsum("nc,sec->nse", v, self.b.to(v.dtype))  # (N, S, E)
        return torch.cat([torch.cos(projected), torch.sin(projected)], dim=-1).flatten(1)


ENCODINGS: dict[str, type[PositionalEncoding]] = {
    "spherical_harmonics": SphericalHarmonicsEncoding,
    "wrap": WrapEncoding,
    "grid": GridEncoding,
    "theory": TheoryEncoding,
    "sphere_c": SphereCEncoding,
    "sphere_m": SphereMEncoding,
    "rff_equal_earth": RFFEqualEarthEncoding,
}
"""Positional encodings by name (the names a config uses)."""
