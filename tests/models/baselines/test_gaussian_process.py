"""The GP layer of lstm-gp and cnn-gp against the equations written out by hand on a 4-point example."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.errors import InputError
from geoapp.models.baselines.gaussian_process import GPParams, fit_gaussian_process, gp_kernel


def test_the_gp_matches_a_hand_computation():
    params = GPParams(sigma=2.0, r_loc=0.5, r_year=1.5, sigma_e=0.3, sigma_b=0.5)
    h = np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0], [1.5, 0.5]])  # last hidden layer, n = 4, d = 2
    y = np.array([150.0, 160.0, 155.0, 170.0])
    loc = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 200.0], [100.0, 200.0]])  # km
    year = np.array([2010.0, 2011.0, 2012.0, 2010.0])
    b = np.array([5.0, 2.0, 150.0])  # the network's head on [h, 1]
    gp = fit_gaussian_process(h, y, loc, year, b, params)

    # By hand: scale by the training mean and range, then the equations of the module docstring.
    g = (loc - [50.0, 100.0]) / [100.0, 200.0]
    t = (year - 2010.75) / 2.0
    k = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            d_loc = (g[i, 0] - g[j, 0]) ** 2 + (g[i, 1] - g[j, 1]) ** 2
            k[i, j] = 4.0 * np.exp(-d_loc / (2 * 0.25) - (t[i] - t[j]) ** 2 / (2 * 2.25))
    k_noisy = k + 0.09 * np.eye(4)
    hh = np.column_stack([h, np.ones(4)])
    k_inv = np.linalg.inv(k_noisy)
    b_inv = np.eye(3) / 0.25
    beta = np.linalg.inv(b_inv + hh.T @ k_inv @ hh) @ (hh.T @ k_inv @ y + b_inv @ b)
    np.testing.assert_allclose(gp.beta.numpy(), beta, rtol=1e-10)

    h_new = np.array([[1.0, 1.0], [0.2, 0.3]])
    loc_new = np.array([[50.0, 100.0], [0.0, 0.0]])
    year_new = np.array([2011.0, 2013.0])
    g_new = (loc_new - [50.0, 100.0]) / [100.0, 200.0]
    t_new = (year_new - 2010.75) / 2.0
    k_star = np.array(
        [[4.0 * np.exp(-np.sum((g[i] - g_new[m]) ** 2) / 0.5 - (t[i] - t_new[m]) ** 2 / 4.5) for m in range(2)] for i in range(4)]
    )
    expected = np.column_stack([h_new, np.ones(2)]) @ beta + k_star.T @ k_inv @ (y - hh @ beta)
    np.testing.assert_allclose(gp.predict(h_new, loc_new, year_new), expected, rtol=1e-10)
    np.testing.assert_allclose(gp_kernel(g, t, g, t, params), k, rtol=1e-12)


def test_a_training_point_is_pulled_toward_its_own_yield():
    """With little noise the GP residual nearly interpolates the training yields the features miss."""
    rng = np.random.default_rng(1)
    h = rng.normal(size=(6, 2))
    loc = rng.uniform(0, 500, size=(6, 2))
    year = np.arange(2010.0, 2016.0)
    y = 150 + rng.normal(scale=5, size=6)
    gp = fit_gaussian_process(h, y, loc, year, np.array([0.0, 0.0, 150.0]), GPParams(sigma_e=0.01))
    assert np.abs(gp.predict(h, loc, year) - y).max() < 0.5


def test_mismatched_or_non_finite_arrays_are_refused():
    with pytest.raises(InputError, match="GP fit needs h"):
        fit_gaussian_process(np.zeros((3, 2)), np.zeros(3), np.zeros((3, 2)), np.zeros(2), np.zeros(3))
    with pytest.raises(InputError, match="finite"):
        fit_gaussian_process(np.full((1, 1), np.nan), np.zeros(1), np.zeros((1, 2)), np.zeros(1), np.zeros(2))
    with pytest.raises(InputError, match="'r_loc' must be a finite positive number"):
        GPParams(r_loc=0.0)


def test_the_kernel_matches_the_direct_formula_without_a_pairwise_difference_array():
    from geoapp.models.baselines.gaussian_process import gp_kernel

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(7, 2)), np.concatenate([rng.normal(size=(4, 2)), np.zeros((1, 2))])
    ya, yb = rng.normal(size=7), rng.normal(size=5)
    a[0] = b[-1] = [1e3, -1e3]  # far from the origin, the same point: the distance must come out 0, not negative
    ya[0] = yb[-1] = 0.25
    p = GPParams(sigma=1.7, r_loc=0.4, r_year=2.0)
    direct = p.sigma**2 * np.exp(
        -((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * p.r_loc**2) - (ya[:, None] - yb[None, :]) ** 2 / (2 * p.r_year**2)
    )
    k = gp_kernel(a, ya, b, yb, p)
    np.testing.assert_allclose(k, direct, rtol=1e-9, atol=1e-12)
    assert k[0, -1] == pytest.approx(p.sigma**2) and (k >= 0).all() and (k <= p.sigma**2 + 1e-12).all()
