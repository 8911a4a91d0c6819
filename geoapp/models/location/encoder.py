"""A location encoder is network(positional encoding(lat, lon)), and nothing more.

:class:`LocationEncoderConfig` names the two parts and their options in one validated dataclass;
:func:`build_location_encoder` turns it into a :class:`LocationEncoder`, sizing the network's input
from the encoding's ``output_dim``. This is the split of SatCLIP (Klemmer et al. 2023) and of
Russwurm et al. (2024): the encoding is fixed, the network is learned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from geoapp.config import strict_from_dict
from geoapp.models.location._checks import check_choice, check_int, check_kwargs
from geoapp.models.location.encodings import ENCODINGS, make_encoding
from geoapp.models.location.networks import NETWORKS, make_network

__all__ = ["LocationEncoder", "LocationEncoderConfig", "build_location_encoder"]


class LocationEncoder(nn.Module):
    """f(lat, lon) = network(encoding(lat, lon)).

    Args:
        encoding: a positional encoding (``forward(lat, lon) -> (N, encoding.output_dim)``).
        network: a module mapping (N, encoding.output_dim) to (N, D).
    """

    def __init__(self, encoding: nn.Module, network: nn.Module) -> None:
        super().__init__()
        self.encoding = encoding
        self.network = network

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, D) embeddings (D = the network's ``out_dim``)."""
        return self.network(self.encoding(lat, lon))


@dataclass
class LocationEncoderConfig:
    """What to build: an encoding and a network by name, their options, and the embedding size.

    Unknown names, unknown options and unknown keys (in :meth:`from_dict`) raise ``InputError``.
    Option values are checked when the parts are built (:func:`build_location_encoder`).
    """

    encoding: str = "spherical_harmonics"  # a key of ENCODINGS
    encoding_kwargs: dict[str, Any] = field(default_factory=dict)  # its options; {} = its defaults (degree 10)
    network: str = "siren"  # a key of NETWORKS
    network_kwargs: dict[str, Any] = field(default_factory=dict)  # its options; {} = 2 layers of 256
    embedding_dim: int = 256  # size D of the location embedding (the network's out_dim)

    def __post_init__(self) -> None:
        encoding_cls = check_choice(self.encoding, ENCODINGS, "positional encoding")
        check_kwargs(encoding_cls, self.encoding_kwargs, f"encoding {self.encoding!r}")
        network_cls = check_choice(self.network, NETWORKS, "network")
        check_kwargs(network_cls, self.network_kwargs, f"network {self.network!r}", reserved=("in_dim", "out_dim"))
        self.embedding_dim = check_int(self.embedding_dim, "embedding_dim", 1)
        self.encoding_kwargs = dict(self.encoding_kwargs)
        self.network_kwargs = dict(self.network_kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocationEncoderConfig:
        """Build from a mapping (e.g. a checkpoint card's JSON); unknown keys are rejected."""
        return strict_from_dict(cls, data, "location encoder", keys="config key(s)")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (the inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)


def build_location_encoder(config: LocationEncoderConfig | Mapping[str, Any]) -> LocationEncoder:
    """Build the encoder a config describes (a mapping goes through ``LocationEncoderConfig.from_dict``)."""
    if not isinstance(config, LocationEncoderConfig):
        config = LocationEncoderConfig.from_dict(config)
    encoding = make_encoding(config.encoding, **config.encoding_kwargs)
    network = make_network(config.network, encoding.output_dim, config.embedding_dim, **config.network_kwargs)
    return LocationEncoder(encoding, network)
