"""Networks that map a positional encoding to a location embedding: SIREN and a ReLU MLP.

Both take ``(in_dim, out_dim, ...)``, map (N, in_dim) to (N, out_dim) and expose ``in_dim`` and
``out_dim``. ``NETWORKS`` maps a name to its class; :func:`make_network` builds one from keyword
options and rejects unknown names and options.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from geoapp.errors import InputError
from geoapp.models.location._checks import check_choice, check_int, check_kwargs, check_positive_float

__all__ = ["MLP", "NETWORKS", "SineLayer", "SirenNet", "make_network"]


def make_network(name: str, in_dim: int, out_dim: int, **kwargs: Any) -> nn.Module:
    """Build the network registered as ``name`` mapping (N, in_dim) to (N, out_dim).

    Raises:
        InputError: an unknown name (the message lists ``NETWORKS``), an unknown option (the message
            lists the allowed ones), or a bad option value.
    """
    cls = check_choice(name, NETWORKS, "network")
    check_kwargs(cls, kwargs, f"network {name!r}", reserved=("in_dim", "out_dim"))
    return cls(in_dim, out_dim, **kwargs)


class SineLayer(nn.Module):
    """y = sin(w0 (W x + b)) with SIREN's initialisation (Sitzmann et al. 2020, NeurIPS).

    W and b are drawn from U(-c, c) with c = 1 / in_dim for the first layer and sqrt(6 / in_dim) / w0
    otherwise, so that activations stay distributed alike through depth. ``dropout`` (a probability)
    acts on W x + b before the sine, as in SatCLIP. ``activation=False`` makes it a plain linear layer
    with the same initialisation (SIREN's last layer).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        w0: float = 1.0,
        is_first: bool = False,
        dropout: float = 0.0,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self.w0 = w0
        self.activation = activation
        self.linear = nn.Linear(in_dim, out_dim)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        bound = 1.0 / in_dim if is_first else math.sqrt(6.0 / in_dim) / w0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)
            self.linear.bias.uniform_(-bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_dim) -> (N, out_dim)."""
        x = self.dropout(self.linear(x))
        return torch.sin(self.w0 * x) if self.activation else x


class SirenNet(nn.Module):
    """Sinusoidal representation network as SatCLIP uses it after spherical harmonics.

    Russwurm et al. (2024), ICLR, after Sitzmann, Martel, Bergman, Lindell, Wetzstein (2020),
    "Implicit neural representations with periodic activation functions", NeurIPS. ``num_layers``
    sine layers of width ``hidden_dim`` (the first with frequency ``w0_initial``, the others ``w0``),
    then a linear layer to ``out_dim``.

    Args:
        in_dim: input features (the encoding's ``output_dim``).
        out_dim: embedding size.
        hidden_dim: width of the sine layers.
        num_layers: number of sine layers (>= 1).
        w0: frequency factor of the hidden sine layers (SatCLIP: 1).
        w0_initial: frequency factor of the first sine layer (SatCLIP and SIREN: 30).
        dropout: dropout probability inside the hidden sine layers (0 = none; SatCLIP uses 0.5).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        w0: float = 1.0,
        w0_initial: float = 30.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_dim, self.out_dim = check_int(in_dim, "in_dim", 1), check_int(out_dim, "out_dim", 1)
        hidden_dim = check_int(hidden_dim, "hidden_dim", 1)
        num_layers = check_int(num_layers, "num_layers", 1)
        w0 = check_positive_float(w0, "w0")
        w0_initial = check_positive_float(w0_initial, "w0_initial")
        dropout = _check_probability(dropout)
        layers = [SineLayer(in_dim, hidden_dim, w0=w0_initial, is_first=True)]
        layers += [SineLayer(hidden_dim, hidden_dim, w0=w0, dropout=dropout) for _ in range(num_layers - 1)]
        self.layers = nn.Sequential(*layers)
        self.last = SineLayer(hidden_dim, out_dim, w0=w0, activation=False)

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_dim) -> (N, out_dim)."""
        return self.last(self.layers(x))


class MLP(nn.Module):
    """[Linear, ReLU, Dropout] x ``num_layers`` of width ``hidden_dim``, then Linear to ``out_dim``.

    Args:
        in_dim: input features (the encoding's ``output_dim``).
        out_dim: embedding size.
        hidden_dim: width of the hidden layers.
        num_layers: number of hidden layers (>= 1).
        dropout: dropout probability after each ReLU (0 = none).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 256, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim, self.out_dim = check_int(in_dim, "in_dim", 1), check_int(out_dim, "out_dim", 1)
        hidden_dim = check_int(hidden_dim, "hidden_dim", 1)
        num_layers = check_int(num_layers, "num_layers", 1)
        dropout = _check_probability(dropout)
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_dim) -> (N, out_dim)."""
        return self.layers(x)


NETWORKS: dict[str, type[nn.Module]] = {"siren": SirenNet, "mlp": MLP}
"""Networks by name (the names a config uses)."""


def _check_probability(p: object) -> float:
    value = check_positive_float(p, "dropout", allow_zero=True)
    if value >= 1.0:
        raise InputError(f"dropout must be a probability in [0, 1); got {p!r}")
    return value
