"""Location encoders: f(lat, lon) -> R^D built as network(positional encoding(lat, lon)).

- ``spherical_harmonics``: real orthonormal spherical harmonics by a stable recurrence, and
  ``check_latlon``, the coordinate validation every encoding uses.
- ``encodings``: the positional encodings, by name (``ENCODINGS``, ``make_encoding``).
- ``networks``: SIREN and MLP (``NETWORKS``, ``make_network``).
- ``encoder``: ``LocationEncoder``, its config and ``build_location_encoder``.

Note: ``geoapp.models.location.spherical_harmonics`` is the *function* (re-exported here); import the
module's other names with ``from geoapp.models.location.spherical_harmonics import ...``.
"""

from __future__ import annotations

from geoapp.models.location.encoder import LocationEncoder, LocationEncoderConfig, build_location_encoder
from geoapp.models.location.encodings import (
    ENCODINGS,
    GridEncoding,
    PositionalEncoding,
    RFFEqualEarthEncoding,
    SphereCEncoding,
    SphereMEncoding,
    SphericalHarmonicsEncoding,
    TheoryEncoding,
    WrapEncoding,
    equal_earth,
    make_encoding,
)
from geoapp.models.location.networks import MLP, NETWORKS, SirenNet, make_network
from geoapp.models.location.spherical_harmonics import check_latlon, num_harmonics, spherical_harmonics

__all__ = [
    "ENCODINGS",
    "MLP",
    "NETWORKS",
    "GridEncoding",
    "LocationEncoder",
    "LocationEncoderConfig",
    "PositionalEncoding",
    "RFFEqualEarthEncoding",
    "SirenNet",
    "SphereCEncoding",
    "SphereMEncoding",
    "SphericalHarmonicsEncoding",
    "TheoryEncoding",
    "WrapEncoding",
    "build_location_encoder",
    "check_latlon",
    "equal_earth",
    "make_encoding",
    "make_network",
    "num_harmonics",
    "spherical_harmonics",
]
