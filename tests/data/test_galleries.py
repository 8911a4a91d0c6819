"""Galleries (GeoCLIP's 100K, near-uniform land) and the on-disk gallery embedding cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open

from geoapp.data import galleries
from geoapp.data.galleries import Gallery, GalleryEmbeddingCache, cached_gallery_embeddings
from geoapp.data.land import is_land
from geoapp.errors import InputError


def test_geoclip_gallery_shape_order_and_ranges():
    g = galleries.geoclip_gallery()
    assert g.shape == (100_000, 2) and g.dtype == np.float64
    assert not g.flags.writeable
    # first data row of coordinates_100K.csv is "LAT,LON" = -50.943392,-72.935664 (Patagonia)
    np.testing.assert_array_equal(g[0], [-50.943392, -72.935664])
    assert (np.abs(g[:, 0]) <= 90).all() and (np.abs(g[:, 1]) <= 180).all()
    assert np.abs(g[:, 1]).max() > 170  # column 1 really is longitude
    assert 20 < g[:, 0].mean() < 50  # photo locations lean north


def test_land_gallery_and_registry():
    g = galleries.land_gallery(2000, seed=0)
    assert g.shape == (2000, 2) and is_land(g[:, 0], g[:, 1]).all()
    assert galleries.land_gallery(2000, seed=0) is g  # memoised
    gal = galleries.load_gallery("land", n=2000)
    assert isinstance(gal, Gallery) and len(gal) == 2000 and gal.name == "land2000_seed0"
    np.testing.assert_array_equal(gal.coords, g)
    gc = galleries.load_gallery("geoclip")
    assert len(gc) == 100_000 and gc.lat.shape == (100_000,) and gc.description
    with pytest.raises(InputError, match="unknown gallery"):
        galleries.load_gallery("moon")


@pytest.mark.parametrize(
    "name, coords",
    [
        ("Bad Name", np.zeros((3, 2))),
        ("../x", np.zeros((3, 2))),
        ("ok", np.zeros((3, 3))),
        ("ok", np.array([[95.0, 0.0]])),
        ("ok", np.array([[np.nan, 0.0]])),
    ],
)
def test_gallery_validation(name, coords):
    with pytest.raises(InputError):
        Gallery(name, coords)


class CountingEncoder:
    """A toy location encoder (unnormalised features) that counts its calls."""

    def __init__(self, scale: float = 3.0):
        self.calls = 0
        self.scale = scale

    def __call__(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert lat.dtype == torch.float64 and lat.shape == lon.shape and lat.ndim == 1
        la, lo = torch.deg2rad(lat), torch.deg2rad(lon)
        feats = torch.stack([torch.cos(la) * torch.cos(lo), torch.cos(la) * torch.sin(lo), torch.sin(la), torch.cos(2 * lo)], 1)
        return (self.scale * feats + 0.5).float()


@pytest.fixture()
def small_gallery() -> Gallery:
    rng = np.random.default_rng(0)
    coords = np.column_stack([rng.uniform(-80, 80, 1000), rng.uniform(-180, 180, 1000)])
    return Gallery("toy", coords, "1,000 random points")


def test_cache_computes_once_then_loads_from_disk(tmp_path, small_gallery):
    enc = CountingEncoder()
    cache = GalleryEmbeddingCache(tmp_path)
    emb = cache.get(small_gallery, enc, "ckpt-abc123", batch_size=256, progress=False)
    assert enc.calls == 4  # ceil(1000 / 256)
    assert emb.shape == (1000, 4) and emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=1), torch.ones(1000), atol=1e-6)
    path = tmp_path / "gallery_toy_ckpt-abc123.safetensors"
    assert cache.path_for(small_gallery, "ckpt-abc123") == path and path.is_file()
    with safe_open(str(path), framework="pt") as fh:  # a plain safetensors file, no pickle
        assert list(fh.keys()) == ["embeddings"]
        assert fh.metadata()["fingerprint"] == "ckpt-abc123"

    again = GalleryEmbeddingCache(tmp_path).get(small_gallery, enc, "ckpt-abc123", progress=False)
    assert enc.calls == 4  # loaded from disk, encoder not called
    assert torch.equal(again, emb)

    changed = CountingEncoder(scale=-2.0)
    new = cache.get(small_gallery, changed, "ckpt-def456", batch_size=512, progress=False)
    assert changed.calls == 2 and not torch.allclose(new, emb)
    assert path.is_file() and (tmp_path / "gallery_toy_ckpt-def456.safetensors").is_file()


def test_cache_recomputes_when_file_is_stale_or_broken(tmp_path, small_gallery):
    enc = CountingEncoder()
    cache = GalleryEmbeddingCache(tmp_path)
    cache.get(small_gallery, enc, "v1", progress=False)
    assert enc.calls == 1
    # same name, different points: the content digest differs, so it is recomputed
    moved = Gallery("toy", small_gallery.coords[:500])
    assert cache.get(moved, enc, "v1", progress=False).shape == (500, 4) and enc.calls == 2
    # a garbled file is recomputed and replaced
    cache.path_for(moved, "v1").write_bytes(b"not a safetensors file")
    assert cache.get(moved, enc, "v1", progress=False).shape == (500, 4) and enc.calls == 3
    assert cache.get(moved, enc, "v1", progress=False).shape == (500, 4) and enc.calls == 3


def test_cache_default_location_and_odd_fingerprints(tmp_path, monkeypatch, small_gallery):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path))
    enc = CountingEncoder()
    emb = cached_gallery_embeddings(small_gallery, enc, "sha256:../../etc passwd", progress=False)
    files = list((tmp_path / "cache").glob("gallery_toy_*.safetensors"))
    assert len(files) == 1 and files[0].parent == tmp_path / "cache" and "/" not in files[0].name[len("gallery_toy_") :]
    assert cached_gallery_embeddings(small_gallery, enc, "sha256:../../etc passwd", progress=False).equal(emb)
    assert enc.calls == 1
    for bad in ("", "   ", None):
        with pytest.raises(InputError, match="fingerprint"):
            cached_gallery_embeddings(small_gallery, enc, bad, progress=False)


def test_cache_rejects_bad_encoder_output(tmp_path, small_gallery):
    cache = GalleryEmbeddingCache(tmp_path)
    with pytest.raises(InputError, match="shape"):
        cache.get(small_gallery, lambda lat, lon: torch.ones(len(lat)), "x", progress=False)
    with pytest.raises(InputError, match="zero or non-finite"):
        cache.get(small_gallery, lambda lat, lon: torch.zeros(len(lat), 3), "x", progress=False)
    assert not list(tmp_path.glob("*.safetensors"))  # nothing half-written


def test_fresh_reads_only_the_header_and_follows_the_inputs(tmp_path, small_gallery):
    enc = CountingEncoder()
    cache = GalleryEmbeddingCache(tmp_path)
    assert not cache.fresh(small_gallery, "v1")
    cache.get(small_gallery, enc, "v1", progress=False)
    assert cache.fresh(small_gallery, "v1")
    assert not cache.fresh(small_gallery, "v2")  # another encoder
    assert not cache.fresh(Gallery("toy", small_gallery.coords[:500]), "v1")  # other points, same name
    cache.path_for(small_gallery, "v1").write_bytes(b"garbage")
    assert not cache.fresh(small_gallery, "v1")
