"""Our GeoCLIP location encoder against the geoclip package's own module, on 1,000 random points."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch

from geoapp.errors import InputError
from geoapp.models.location.geoclip import geoclip_weights_path, load_geoclip_encoder


def _package_location_encoder():
    """Import geoclip/model/location_encoder.py without running geoclip/__init__ (needs transformers)."""
    model_dir = geoclip_weights_path().parent.parent
    pkg = types.ModuleType("_geoclip_model")
    pkg.__path__ = [str(model_dir)]
    sys.modules["_geoclip_model"] = pkg
    for name in ("misc", "rff", "location_encoder"):
        path = model_dir / name / "__init__.py" if (model_dir / name).is_dir() else model_dir / f"{name}.py"
        spec = importlib.util.spec_from_file_location(
            f"_geoclip_model.{name}", path, submodule_search_locations=[str(path.parent)] if path.name == "__init__.py" else None
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["_geoclip_model.location_encoder"].LocationEncoder


def test_matches_package_module_on_random_points():
    reference = _package_location_encoder()().eval()  # loads the same shipped weights
    ours = load_geoclip_encoder()
    g = torch.Generator().manual_seed(0)
    lat = torch.rand(1000, generator=g) * 180 - 90
    lon = torch.rand(1000, generator=g) * 360 - 180
    with torch.no_grad():
        want = reference(torch.stack([lat, lon], dim=1))
        got = ours(lat, lon)
    assert got.shape == (1000, 512)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_embeddings_are_unit_norm_and_fingerprinted():
    enc = load_geoclip_encoder()
    emb = enc.embed_locations(torch.tensor([22.3, 48.86]), torch.tensor([114.2, 2.35]))
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    assert enc.fingerprint.startswith("geoclip-") and len(enc.fingerprint) > 10


def test_bad_latitude_is_refused():
    with pytest.raises(InputError, match="atitude"):
        load_geoclip_encoder()(torch.tensor([95.0]), torch.tensor([0.0]))
