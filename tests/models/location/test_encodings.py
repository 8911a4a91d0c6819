"""Positional encodings: every registered one is shaped, finite, differentiable and validated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from geoapp.errors import InputError
from geoapp.models.location import ENCODINGS, equal_earth, make_encoding
from geoapp.models.location.encodings import ONE_RADIAN_DEG

LAT = torch.tensor([0.0, 45.5, -33.9, 89.999, -90.0, 12.0], dtype=torch.float64)
LON = torch.tensor([0.0, -122.3, 151.2, 10.0, 0.0, 179.9], dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_encoding_is_shaped_finite_and_keeps_dtype(name, dtype):
    encoding = make_encoding(name)
    out = encoding(LAT.to(dtype), LON.to(dtype))
    assert out.shape == (len(LAT), encoding.output_dim)
    assert out.dtype == dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_encoding_is_differentiable(name):
    lat = torch.tensor([10.0, -40.0, 70.0], dtype=torch.float64, requires_grad=True)
    lon = torch.tensor([-170.0, 20.0, 95.0], dtype=torch.float64, requires_grad=True)
    encoding = make_encoding(name)
    out = encoding(lat, lon)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=out.dtype)
    (out * weights).sum().backward()  # not sum(out^2): sin^2 + cos^2 would have no gradient
    assert torch.isfinite(lat.grad).all() and torch.isfinite(lon.grad).all()
    assert float(lat.grad.abs().sum() + lon.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_encoding_wraps_longitude(name):
    encoding = make_encoding(name)
    torch.testing.assert_close(encoding(LAT, LON + 360.0), encoding(LAT, LON), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_encoding_rejects_bad_latitude(name):
    encoding = make_encoding(name)
    with pytest.raises(InputError, match=r"latitude must lie in \[-90, 90\]"):
        encoding(torch.tensor([95.0]), torch.tensor([0.0]))
    with pytest.raises(InputError, match="NaN"):
        encoding(torch.tensor([float("nan")]), torch.tensor([0.0]))


def test_make_encoding_rejects_unknown_name():
    with pytest.raises(InputError, match=r"unknown positional encoding 'sh'; expected one of \[.*'spherical_harmonics'"):
        make_encoding("sh")


def test_make_encoding_rejects_unknown_option():
    with pytest.raises(
        InputError, match=r"unknown option\(s\) \['degre'\] for encoding 'spherical_harmonics'; allowed: \['degree'\]"
    ):
        make_encoding("spherical_harmonics", degre=3)
    with pytest.raises(InputError, match=r"unknown option\(s\) \['degree'\] for encoding 'wrap'; allowed: \[\]"):
        make_encoding("wrap", degree=3)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("spherical_harmonics", {"degree": -1}, "degree must be an integer"),
        ("grid", {"frequency_num": 0}, "frequency_num must be an integer of at least 1"),
        ("theory", {"min_radius": 0.0}, "min_radius must be a finite number > 0"),
        ("sphere_c", {"min_radius": 10.0, "max_radius": 1.0}, r"max_radius \(1.0\) must be >= min_radius"),
        ("sphere_m", {"max_radius": float("nan")}, "max_radius must be a finite number"),
        ("rff_equal_earth", {"sigmas": []}, "sigmas must be a non-empty sequence"),
        ("rff_equal_earth", {"sigmas": [1.0, -2.0]}, "each sigma must be a finite number > 0"),
        ("rff_equal_earth", {"encoded_size": 0}, "encoded_size must be an integer of at least 1"),
    ],
)
def test_bad_option_values_raise(name, kwargs, match):
    with pytest.raises(InputError, match=match):
        make_encoding(name, **kwargs)


def test_output_dims():
    assert make_encoding("spherical_harmonics", degree=40).output_dim == 41**2
    assert make_encoding("wrap").output_dim == 4
    assert make_encoding("grid", frequency_num=8).output_dim == 32
    assert make_encoding("theory", frequency_num=8).output_dim == 48
    assert make_encoding("sphere_c", frequency_num=8).output_dim == 24
    assert make_encoding("sphere_m", frequency_num=8).output_dim == 40
    assert make_encoding("rff_equal_earth").output_dim == 3 * 2 * 256


def test_wrap_values():
    out = make_encoding("wrap")(torch.tensor([45.0]), torch.tensor([90.0]))
    expected = [math.sin(math.pi / 2), math.sin(math.pi / 2), math.cos(math.pi / 2), math.cos(math.pi / 2)]
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-7)


def test_grid_single_scale_values():
    out = make_encoding("grid", frequency_num=1, max_radius=10.0)(LAT, LON)
    lon, lat = LON / 10.0, LAT / 10.0
    torch.testing.assert_close(out, torch.stack([lon.sin(), lon.cos(), lat.sin(), lat.cos()], dim=1))


def test_theory_first_direction_is_longitude():
    out = make_encoding("theory", frequency_num=1, max_radius=10.0)(LAT, LON)
    torch.testing.assert_close(out[:, :2], torch.stack([(LON / 10.0).sin(), (LON / 10.0).cos()], dim=1))


def test_sphere_c_at_one_radian_is_the_unit_vector():
    out = make_encoding("sphere_c", frequency_num=1, max_radius=ONE_RADIAN_DEG)(LAT, LON)
    phi, lam = torch.deg2rad(LAT), torch.deg2rad(LON)
    torch.testing.assert_close(out, torch.stack([phi.sin(), phi.cos() * lam.cos(), phi.cos() * lam.sin()], dim=1))


def test_sphere_scales_are_geometric():
    encoding = make_encoding("sphere_m", frequency_num=3, min_radius=1.0, max_radius=100.0)
    torch.testing.assert_close(encoding.inverse_radii, torch.tensor([1.0, 0.1, 0.01], dtype=torch.float64))


def test_equal_earth_matches_pyproj():
    pyproj = pytest.importorskip("pyproj")
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-90, 90, 200), rng.uniform(-180, 180, 200)
    ours = equal_earth(torch.tensor(lat), torch.tensor(lon)).numpy()
    transformer = pyproj.Transformer.from_crs("+proj=longlat +R=1", "+proj=eqearth +R=1", always_xy=True)
    x, y = transformer.transform(lon, lat)
    np.testing.assert_allclose(ours, np.stack([x, y], axis=1) * 66.50336 / 180.0, atol=1e-6)


def test_equal_earth_range_matches_geoclip_scaling():
    corners = equal_earth(torch.tensor([0.0, 90.0]), torch.tensor([180.0, 0.0]))
    assert abs(float(corners[0, 0]) - 1.0) < 1e-4 and abs(float(corners[1, 1]) - 0.4867) < 1e-3


def test_rff_matrix_is_seeded_and_in_the_state_dict():
    a, b = make_encoding("rff_equal_earth", seed=3), make_encoding("rff_equal_earth", seed=3)
    c = make_encoding("rff_equal_earth", seed=4)
    assert torch.equal(a.b, b.b) and not torch.equal(a.b, c.b)
    assert a.b.shape == (3, 256, 2) and "b" in a.state_dict()
    # the sigma-2^8 matrix is 256 times the spread of the sigma-1 one (same seed -> same normals)
    ratio = float(a.b[2].std() / a.b[0].std())
    assert 150 < ratio < 400
