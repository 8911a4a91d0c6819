"""GeoCLIP's pretrained location encoder, loaded offline from the weights PyPI's ``geoclip==1.3.0`` ships.

Vivanco Cepeda, Nayak, Shah (2023), "GeoCLIP: Clip-inspired alignment between locations and images for
effective worldwide geo-localization", NeurIPS. The encoder projects (lat, lon) with Equal Earth
(:func:`geoapp.models.location.encodings.equal_earth`), and for each of three scales sigma in
(2^0, 2^4, 2^8) applies random Fourier features [cos 2 pi B v, sin 2 pi B v] (B: 256 x 2, stored in the
weights), an MLP 512 -> 1024 -> 1024 -> 1024 (ReLU) and a linear head to 512; the three heads are summed.

The module below mirrors the package's parameter names, so its state dict loads strictly. The weights
file is read with ``torch.load(weights_only=True)`` (tensors only, no code), as for any file a package
ships; the package itself is never imported (its ``__init__`` needs torchvision and transformers).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geoapp.errors import DataFileError, MissingDataError
from geoapp.models.location.encodings import equal_earth
from geoapp.models.location.spherical_harmonics import check_latlon

__all__ = ["GeoCLIPLocationEncoder", "geoclip_weights_path", "load_geoclip_encoder", "GEOCLIP_SIGMAS"]

GEOCLIP_SIGMAS = (2.0**0, 2.0**4, 2.0**8)


class _Capsule(nn.Module):
    """One scale: random Fourier features -> 3-layer ReLU MLP -> linear head (names as in GeoCLIP)."""

    def __init__(self) -> None:
        super().__init__()
        self.capsule = nn.Sequential(
            _Fourier(), nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU()
        )
        self.head = nn.Sequential(nn.Linear(1024, 512))

    def forward(self, v: Tensor) -> Tensor:
        return self.head(self.capsule(v))


class _Fourier(nn.Module):
    """[cos(2 pi v B^T), sin(2 pi v B^T)] with B (256, 2) a fixed (loaded) parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.zeros(256, 2), requires_grad=False)

    def forward(self, v: Tensor) -> Tensor:
        vp = 2 * math.pi * v @ self.b.t()
        return torch.cat([torch.cos(vp), torch.sin(vp)], dim=-1)


class GeoCLIPLocationEncoder(nn.Module):
    """GeoCLIP's location encoder: (lat, lon) degrees -> 512-d embedding (not normalised by forward).

    Attributes:
        fingerprint: hash of the weights file (keys the gallery-embedding cache).
    """

    def __init__(self) -> None:
        super().__init__()
        for i in range(len(GEOCLIP_SIGMAS)):
            self.add_module(f"LocEnc{i}", _Capsule())
        self.fingerprint = "geoclip-untrained"

    def forward(self, lat: Tensor, lon: Tensor) -> Tensor:
        """(N,) lat, lon in degrees -> (N, 512)."""
        lat, lon = check_latlon(lat, lon)
        v = equal_earth(lat.float(), lon.float())
        return sum(getattr(self, f"LocEnc{i}")(v) for i in range(len(GEOCLIP_SIGMAS)))

    @torch.no_grad()
    def embed_locations(self, lat: Tensor, lon: Tensor) -> Tensor:
        """Unit-norm embeddings (N, 512), as GeoCLIP compares them."""
        return F.normalize(self(torch.as_tensor(lat), torch.as_tensor(lon)), dim=-1)


def geoclip_weights_path() -> Path:
    """The location-encoder weights file inside the installed ``geoclip`` package (not imported)."""
    spec = importlib.util.find_spec("geoclip")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError("package geoclip is not installed; run `make setup` (it installs geoclip==1.3.0 with --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / "weights" / "location_encoder_weights.pth"
    if not path.exists():
        raise MissingDataError(f"GeoCLIP weights not found at {path}; reinstall geoclip==1.3.0")
    return path


@functools.lru_cache(maxsize=1)
def load_geoclip_encoder() -> GeoCLIPLocationEncoder:
    """GeoCLIP's pretrained location encoder in eval mode on the CPU."""
    path = geoclip_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or altered file
        raise DataFileError(f"cannot read GeoCLIP weights {path}: {exc}") from exc
    model = GeoCLIPLocationEncoder()
    model.load_state_dict(state, strict=True)
    model.fingerprint = "geoclip-" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return model.eval()
