"""Tests for geoapp.samplers.tiles: the vectorised gather against a slow loop (numpy, torch, the unfold
path), the valid-pixel mask of a cube, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geoapp.errors import InputError
from geoapp.samplers.tiles import gather_tiles, valid_pixel_mask

# ---- gather_tiles -------------------------------------------------------------------------------


def _slow_gather(array, origins, tile, lead=None):
    out = []
    for i, (r, c) in enumerate(origins):
        a = array if lead is None else array[lead[i]]
        out.append(a[..., r : r + tile, c : c + tile])
    return np.stack(out)


def test_gather_tiles_equals_a_slow_loop_numpy():
    rng = np.random.default_rng(0)
    array = rng.random((7, 9, 40, 50), dtype=np.float32)
    origins = np.array([[0, 0], [40 - 16, 50 - 16], [3, 17], [24, 0], [0, 34], [10, 10]])
    out = gather_tiles(array, origins, 16)
    assert out.shape == (6, 7, 9, 16, 16) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, _slow_gather(array, origins, 16))
    np.testing.assert_array_equal(gather_tiles(array[0, 0], origins, 5), _slow_gather(array[0, 0], origins, 5))
    lead = np.array([0, 6, 2, 2, 1, 5])
    np.testing.assert_array_equal(gather_tiles(array, origins, 16, lead_index=lead), _slow_gather(array, origins, 16, lead))
    assert gather_tiles(array, np.zeros((0, 2), dtype=int), 16).shape == (0, 7, 9, 16, 16)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])  # bfloat16 takes the unfold path used on GPUs
def test_gather_tiles_equals_a_slow_loop_torch(dtype):
    array = torch.rand(3, 4, 30, 35).to(dtype)
    origins = torch.tensor([[0, 0], [22, 27], [5, 9]])
    out = gather_tiles(array, origins, 8)
    assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == (3, 3, 4, 8, 8)
    ref = torch.stack([array[..., r : r + 8, c : c + 8] for r, c in origins.tolist()])
    assert torch.equal(out, ref)
    lead = np.array([2, 0, 1])
    ref_lead = torch.stack([array[lead[i], :, r : r + 8, c : c + 8] for i, (r, c) in enumerate(origins.tolist())])
    assert torch.equal(gather_tiles(array, origins, 8, lead_index=lead), ref_lead)


def test_gather_tiles_keeps_the_old_import_paths():
    from geoapp import samplers
    from geoapp.samplers import quadruplet

    assert samplers.gather_tiles is quadruplet.gather_tiles is gather_tiles
    assert samplers.valid_pixel_mask is quadruplet.valid_pixel_mask is valid_pixel_mask


# ---- the valid-pixel mask ----------------------------------------------------------------------


def test_valid_pixel_mask_from_a_cube(tiny_sim):
    cube = tiny_sim.cube.copy(deep=True)
    for band in cube.data_vars:
        if {"y", "x"} <= set(cube[band].dims):
            cube[band][..., :10, :12] = np.nan
    mask = valid_pixel_mask(cube)
    assert mask.shape == (cube.sizes["y"], cube.sizes["x"]) and mask.dtype == bool
    assert not mask[:10, :12].any() and mask[10:, :].any()


# ---- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origins, tile, lead, match",
    [
        (np.array([[0, 0], [30, 0]]), 16, None, r"tile #1 at origin \(30, 0\) leaves the 40x50 grid"),
        (np.array([[-1, 0]]), 16, None, "leaves the 40x50 grid"),
        (np.array([[0.0, 1.0]]), 16, None, "origins must be integers"),
        (np.array([[0, 0]]), 41, None, "tile_px must be an int in 1..40"),
        (np.array([[0, 0]]), 16, np.array([9]), "lead_index must hold 1 ints in 0..6"),
        (np.array([[0, 0]]), 16, np.array([0, 1]), "lead_index must hold 1 ints"),
    ],
)
def test_bad_gather_arguments(origins, tile, lead, match):
    array = np.zeros((7, 2, 40, 50), dtype=np.float32)
    with pytest.raises(InputError, match=match):
        gather_tiles(array, origins, tile, lead_index=lead)


def test_bad_valid_pixel_mask_input(tiny_sim):
    with pytest.raises(InputError, match="cube has none of the bands"):
        valid_pixel_mask(tiny_sim.cube[[]])
