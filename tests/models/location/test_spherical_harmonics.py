"""Spherical harmonics: orthonormality, the addition theorem, scipy agreement, gradients, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch

from geoapp.errors import InputError
from geoapp.models.location import check_latlon, num_harmonics, spherical_harmonics


def random_points(n: int, seed: int = 0, near_poles: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform on the sphere, plus ``near_poles`` within 1e-3 degrees of each pole and the poles."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    if near_poles:
        offsets = rng.uniform(0.0, 1e-3, near_poles)
        lat = np.concatenate([lat, 90.0 - offsets, -90.0 + offsets, [90.0, -90.0]])
    lon = rng.uniform(-180.0, 180.0, len(lat))
    return lat, lon


def addition_theorem_errors(y: torch.Tensor, degree: int) -> tuple[float, float]:
    """Worst absolute and relative error of sum_m Y_lm^2 = (2l + 1) / (4 pi) over points and l."""
    y = y.double()
    worst_abs = worst_rel = 0.0
    for l in range(degree + 1):
        expected = (2 * l + 1) / (4 * math.pi)
        err = float((y[:, l * l : (l + 1) ** 2].pow(2).sum(1) - expected).abs().max())
        worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, err / expected)
    return worst_abs, worst_rel


def scipy_real_harmonics(lat: np.ndarray, lon: np.ndarray, degree: int) -> np.ndarray:
    """Real harmonics in our convention from scipy's complex ones (which carry the Condon-Shortley phase).

    Ours has no Condon-Shortley phase: Y_lm = sqrt2 (-1)^m Re Y_l^m (m > 0), sqrt2 (-1)^m Im Y_l^|m|
    (m < 0), Re Y_l^0 (m = 0). scipy >= 1.15 has sph_harm_y(l, m, polar, azimuth); older ones only
    sph_harm(m, l, azimuth, polar).
    """
    polar, azimuth = np.radians(90.0 - lat), np.radians(lon)
    if hasattr(scipy.special, "sph_harm_y"):
        complex_y = lambda l, m: scipy.special.sph_harm_y(l, m, polar, azimuth)  # noqa: E731
    else:  # pragma: no cover - scipy < 1.15
        complex_y = lambda l, m: scipy.special.sph_harm(m, l, azimuth, polar)  # noqa: E731
    out = np.empty((len(lat), num_harmonics(degree)))
    for l in range(degree + 1):
        for m in range(0, l + 1):
            c = complex_y(l, m)
            if m == 0:
                out[:, l * l + l] = c.real
            else:
                out[:, l * l + l + m] = math.sqrt(2.0) * (-1) ** m * c.real
                out[:, l * l + l - m] = math.sqrt(2.0) * (-1) ** m * c.imag
    return out


def test_orthonormal_by_quadrature_at_degree_20():
    degree = 20
    x, wx = np.polynomial.legendre.leggauss(degree + 2)  # exact for polynomials in cos(colatitude) <= 2L
    n_lon = 2 * degree + 2  # exact for trigonometric polynomials in lon of degree <= 2L
    lon = -180.0 + 360.0 * np.arange(n_lon) / n_lon
    lat_grid, lon_grid = np.meshgrid(np.degrees(np.arcsin(x)), lon, indexing="ij")
    weights = np.repeat(wx, n_lon) * (2.0 * math.pi / n_lon)
    y = spherical_harmonics(torch.tensor(lat_grid.ravel()), torch.tensor(lon_grid.ravel()), degree)
    gram = y.T @ (torch.tensor(weights).unsqueeze(1) * y)
    assert gram.shape == (num_harmonics(degree), num_harmonics(degree))
    assert float((gram - torch.eye(gram.shape[0], dtype=torch.float64)).abs().max()) < 1e-10


def test_addition_theorem_at_degree_100_float64():
    lat, lon = random_points(200, seed=1, near_poles=20)
    y = spherical_harmonics(torch.tensor(lat), torch.tensor(lon), 100)
    assert y.dtype == torch.float64
    worst_abs, _ = addition_theorem_errors(y, 100)
    assert worst_abs < 1e-9


def test_addition_theorem_at_degree_100_float32():
    lat, lon = random_points(200, seed=2, near_poles=20)
    y = spherical_harmonics(torch.tensor(lat, dtype=torch.float32), torch.tensor(lon, dtype=torch.float32), 100)
    assert y.dtype == torch.float32
    _, worst_rel = addition_theorem_errors(y, 100)
    assert worst_rel < 1e-4


def test_agrees_with_scipy_at_degree_10():
    lat, lon = random_points(300, seed=3, near_poles=5)
    ours = spherical_harmonics(torch.tensor(lat), torch.tensor(lon), 10).numpy()
    np.testing.assert_allclose(ours, scipy_real_harmonics(lat, lon, 10), rtol=0, atol=1e-12)


def test_float32_close_to_float64():
    lat, lon = random_points(100, seed=4, near_poles=5)
    y64 = spherical_harmonics(torch.tensor(lat), torch.tensor(lon), 40)
    y32 = spherical_harmonics(torch.tensor(lat).float(), torch.tensor(lon).float(), 40)
    # the float32 inputs themselves are rounded (lat to ~4e-6 degrees); compare on those inputs
    y64_on_32 = spherical_harmonics(torch.tensor(lat).float().double(), torch.tensor(lon).float().double(), 40)
    assert float((y32.double() - y64_on_32).abs().max()) < 1e-5
    assert float((y32.double() - y64).abs().max()) < 1e-3


def test_gradcheck_float64():
    lat = torch.tensor([10.0, -45.3, 89.9, -0.7, -89.99, 33.3], dtype=torch.float64, requires_grad=True)
    lon = torch.tensor([20.0, 170.0, -179.0, 3.0, 45.0, 400.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: spherical_harmonics(a, b, 5), (lat, lon))


def test_gradient_float32_is_finite_including_poles():
    lat = torch.tensor([90.0, -90.0, 0.0, 45.0], requires_grad=True)
    lon = torch.tensor([0.0, 10.0, -180.0, 180.0], requires_grad=True)
    spherical_harmonics(lat, lon, 30).pow(2).sum().backward()
    assert lat.grad.dtype == torch.float32
    assert torch.isfinite(lat.grad).all() and torch.isfinite(lon.grad).all()


@pytest.mark.parametrize("degree", [0, 1, 7])
def test_shapes_and_prefix(degree):
    lat, lon = random_points(17, seed=5)
    y = spherical_harmonics(torch.tensor(lat), torch.tensor(lon), degree)
    assert y.shape == (17, (degree + 1) ** 2)
    if degree:
        lower = spherical_harmonics(torch.tensor(lat), torch.tensor(lon), degree - 1)
        torch.testing.assert_close(y[:, : degree**2], lower, rtol=0, atol=0)


def test_column_ordering_degree_1():
    """Columns 1, 2, 3 are Y_1,-1, Y_1,0, Y_1,1 = sqrt(3/4pi) * (y, z, x) of the unit vector."""
    lat, lon = random_points(50, seed=6)
    y = spherical_harmonics(torch.tensor(lat), torch.tensor(lon), 2).numpy()
    phi, lam = np.radians(lat), np.radians(lon)
    c = math.sqrt(3.0 / (4.0 * math.pi))
    np.testing.assert_allclose(y[:, 0], 0.5 / math.sqrt(math.pi), atol=1e-14)
    np.testing.assert_allclose(y[:, 1], c * np.cos(phi) * np.sin(lam), atol=1e-14)
    np.testing.assert_allclose(y[:, 2], c * np.sin(phi), atol=1e-14)
    np.testing.assert_allclose(y[:, 3], c * np.cos(phi) * np.cos(lam), atol=1e-14)
    # degree 2, m = -2 (column 4): sqrt(15 / 16pi) * 2xy
    np.testing.assert_allclose(y[:, 4], math.sqrt(15.0 / (16.0 * math.pi)) * np.cos(phi) ** 2 * np.sin(2 * lam), atol=1e-14)


def test_empty_batch():
    assert spherical_harmonics(torch.zeros(0), torch.zeros(0), 3).shape == (0, 16)


def test_longitude_wraps():
    lat, lon = random_points(40, seed=7)
    lat_t, lon_t = torch.tensor(lat), torch.tensor(lon)
    base = spherical_harmonics(lat_t, lon_t, 12)
    for shift in (360.0, -360.0, 720.0):
        torch.testing.assert_close(spherical_harmonics(lat_t, lon_t + shift, 12), base, rtol=0, atol=1e-12)
    ends = spherical_harmonics(torch.tensor([10.0, 10.0]), torch.tensor([180.0, -180.0]), 12)
    torch.testing.assert_close(ends[0], ends[1], rtol=0, atol=1e-6)


def test_check_latlon_keeps_in_range_longitudes_exactly():
    lat = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    lon = torch.tensor([179.123456789, -180.0, 181.0], dtype=torch.float64)
    _, wrapped = check_latlon(lat, lon)
    assert wrapped[0] == lon[0] and wrapped[1] == -180.0 and abs(float(wrapped[2]) + 179.0) < 1e-12


def test_check_latlon_converts_integers_and_promotes():
    lat, lon = check_latlon([0, 45], torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert lat.dtype == lon.dtype == torch.float64


@pytest.mark.parametrize(
    ("lat", "lon", "match"),
    [
        ([91.0], [0.0], r"latitude must lie in \[-90, 90\].*91\.0.*swapped"),
        ([0.0, -90.5], [0.0, 0.0], r"latitude must lie in \[-90, 90\].*-90\.5 at index 1"),
        ([float("inf")], [0.0], r"latitude must lie in \[-90, 90\]"),
        ([float("nan")], [0.0], r"must not be NaN: 1 of 1 points"),
        ([0.0, 1.0], [0.0, float("nan")], r"must not be NaN.*index 1"),
        ([0.0], [float("inf")], r"longitude must be finite"),
        ([0.0, 1.0], [0.0], r"same length"),
        ([[0.0]], [[0.0]], r"1-D tensors"),
    ],
)
def test_bad_coordinates_raise(lat, lon, match):
    with pytest.raises(InputError, match=match):
        spherical_harmonics(torch.tensor(lat), torch.tensor(lon), 3)


def test_bad_dtype_raises():
    with pytest.raises(InputError, match=r"float32 or float64.*float16"):
        spherical_harmonics(torch.zeros(2, dtype=torch.float16), torch.zeros(2, dtype=torch.float16), 3)


@pytest.mark.parametrize("degree", [-1, 2.5, True, "3", 10_000])
def test_bad_degree_raises(degree):
    with pytest.raises(InputError, match=r"degree must be an integer in \[0, 1000\]"):
        spherical_harmonics(torch.zeros(2), torch.zeros(2), degree)


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError):
        spherical_harmonics(torch.tensor([100.0]), torch.tensor([0.0]), 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - runs where a GPU is present
    lat, lon = random_points(100, seed=8, near_poles=5)
    for dtype in (torch.float32, torch.float64):
        cpu = spherical_harmonics(torch.tensor(lat, dtype=dtype), torch.tensor(lon, dtype=dtype), 60)
        gpu = spherical_harmonics(torch.tensor(lat, dtype=dtype).cuda(), torch.tensor(lon, dtype=dtype).cuda(), 60)
        assert gpu.device.type == "cuda" and gpu.dtype == dtype
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-5 if dtype == torch.float32 else 1e-11)
