"""geoapp.viz.similarity_map.stored_raster_index: built once, then loaded from an .npz without pickle;
a damaged or foreign file is rebuilt; bad names are refused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from geoapp.errors import InputError
from geoapp.viz import similarity_map
from geoapp.viz.similarity_map import build_raster_index, stored_raster_index


@pytest.fixture()
def gallery() -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(0)
    coords = np.column_stack([rng.uniform(-60, 80, 500), rng.uniform(-180, 180, 500)])
    return coords, hashlib.sha256(coords.tobytes()).hexdigest()


def test_the_index_is_stored_once_and_loaded_after(gallery, tmp_path, monkeypatch):
    coords, digest = gallery
    built = stored_raster_index(coords, "test", digest, width=64, max_km=500.0, folder=tmp_path)
    (path,) = tmp_path.glob("raster_index_test_*_w64_km500.npz")
    assert digest[:16] in path.name
    expected = build_raster_index(coords, width=64, max_km=500.0)
    np.testing.assert_array_equal(built.index, expected.index)
    np.testing.assert_array_equal(built.valid, expected.valid)

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt although stored")

    monkeypatch.setattr(similarity_map, "build_raster_index", no_build)
    loaded = stored_raster_index(coords, "test", digest, width=64, max_km=500.0, folder=tmp_path)
    np.testing.assert_array_equal(loaded.index, expected.index)
    np.testing.assert_array_equal(loaded.valid, expected.valid)
    assert loaded.bounds == expected.bounds
    # other parameters are another file
    with pytest.raises(AssertionError, match="rebuilt"):
        stored_raster_index(coords, "test", digest, width=32, max_km=500.0, folder=tmp_path)


def test_a_damaged_or_foreign_file_is_rebuilt(gallery, tmp_path):
    coords, digest = gallery
    stored_raster_index(coords, "test", digest, width=32, max_km=500.0, folder=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not an npz")
    again = stored_raster_index(coords, "test", digest, width=32, max_km=500.0, folder=tmp_path)
    np.testing.assert_array_equal(again.index, build_raster_index(coords, width=32, max_km=500.0).index)
    np.savez(path, index=np.full((32, 32), 10_000, dtype=np.int32), valid=np.ones((32, 32), bool))  # beyond the gallery
    assert stored_raster_index(coords, "test", digest, width=32, max_km=500.0, folder=tmp_path).index.max() < len(coords)
    with np.load(path, allow_pickle=False) as f:
        assert f["index"].max() < len(coords)  # replaced on disk too


def test_bad_names_and_digests_are_refused(gallery, tmp_path):
    coords, digest = gallery
    with pytest.raises(InputError, match="gallery name '../x'"):
        stored_raster_index(coords, "../x", digest, folder=tmp_path)
    with pytest.raises(InputError, match="digest 'xyz'"):
        stored_raster_index(coords, "test", "xyz", folder=tmp_path)


def test_a_nan_value_is_drawn_transparent_not_an_error():
    """A gallery point without a value (NaN) is left out of the overlay, as its alpha channel says."""
    import io

    from PIL import Image

    from geoapp.viz.similarity_map import field_png

    coords = np.array([[0.0, 0.0], [10.0, 10.0], [-30.0, 100.0]])
    raster = build_raster_index(coords, width=32, max_km=5000.0)
    png = field_png(np.array([0.5, np.nan, 1.0]), raster, 0.0, 1.0)
    rgba = np.asarray(Image.open(io.BytesIO(png)))
    nan_pixels = raster.valid & (raster.index == 1)
    drawn = raster.valid & (raster.index == 0)
    assert nan_pixels.any() and (rgba[..., 3][nan_pixels] == 0).all() and (rgba[..., 3][drawn] > 0).all()
