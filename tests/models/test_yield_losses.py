"""Eq. 2-6 and 13 against hand computations on tiny tensors (N examples, T = 2 months, m = 2)."""

from __future__ import annotations

import math

import pytest
import torch

from geoapp.errors import InputError
from geoapp.models.yield_losses import (
    default_margin,
    hypersphere_loss,
    spatial_loss,
    supervised_loss,
    temporal_loss,
    unsupervised_loss,
    yield_loss,
)

# Example 1, months t = 0, 1:
#   a  = [1, 0], [0, 1]
#   sn = [1, 1], [0, 0]
#   sd = [3, 0], [0, 1.5]
#   tn = [0, 0], [2, 1]
# Example 2: every embedding zero.
A1 = [[1.0, 0.0], [0.0, 1.0]]
SN1 = [[1.0, 1.0], [0.0, 0.0]]
SD1 = [[3.0, 0.0], [0.0, 1.5]]
TN1 = [[0.0, 0.0], [2.0, 1.0]]
ZERO = [[0.0, 0.0], [0.0, 0.0]]


def _quad(n: int = 2) -> tuple[torch.Tensor, ...]:
    rows = [(A1, SN1, SD1, TN1), (ZERO, ZERO, ZERO, ZERO)][:n]
    return tuple(torch.tensor([r[j] for r in rows]) for j in range(4))


def test_supervised_eq13():
    # ((52 - 50)^2 + (37 - 40)^2) / 2 = (4 + 9) / 2 = 6.5
    assert supervised_loss(torch.tensor([50.0, 40.0]), torch.tensor([52.0, 37.0])).item() == pytest.approx(6.5)


def test_spatial_eq3_by_hand():
    a, sn, sd, _ = _quad()
    # example 1, p = 1:
    #   t=0: ||a-sn||^2 = 0 + 1 = 1, ||a-sd||^2 = 4 + 0 = 4    -> max(0, 1 - 4 + 1) = 0
    #   t=1: ||a-sn||^2 = 0 + 1 = 1, ||a-sd||^2 = 0 + 0.25 = 0.25 -> max(0, 1 - 0.25 + 1) = 1.75
    # example 2 (all zero): max(0, 0 - 0 + 1) = 1 at both months
    per_step = spatial_loss(a, sn, sd, margin=1.0, reduction="none")
    torch.testing.assert_close(per_step, torch.tensor([[0.0, 1.75], [1.0, 1.0]]))
    # Eq. 6: 1/T sum_t -> example 1: 0.875, example 2: 1.0
    assert spatial_loss(a, sn, sd, margin=1.0).item() == pytest.approx((0.875 + 1.0) / 2)
    assert spatial_loss(a, sn, sd, margin=1.0, reduction="sum").item() == pytest.approx(1.875)
    # with p = 0 example 1's month 1 still violates: 1 - 0.25 = 0.75
    torch.testing.assert_close(spatial_loss(a, sn, sd, margin=0.0, reduction="none")[0], torch.tensor([0.0, 0.75]))


def test_spatial_gradient_pulls_to_sn_and_pushes_from_sd():
    a, sn, sd, _ = _quad(1)
    a.requires_grad_(True)
    spatial_loss(a, sn, sd, margin=1.0).backward()
    # active month 1: d/da = 2 (a - sn) - 2 (a - sd) = 2 (sd - sn) = [0, 3], times 1/T = 1/2; month 0 inactive
    torch.testing.assert_close(a.grad[0], torch.tensor([[0.0, 0.0], [0.0, 1.5]]))


def test_temporal_eq4_by_hand():
    a, _, _, tn = _quad()
    # example 1: t=0: (1-0)^2 + 0 = 1;  t=1: (0-2)^2 + (1-1)^2 = 4  -> mean over T = 2.5; example 2: 0
    torch.testing.assert_close(temporal_loss(a, tn, reduction="none"), torch.tensor([[1.0, 4.0], [0.0, 0.0]]))
    assert temporal_loss(a, tn).item() == pytest.approx(1.25)
    assert temporal_loss(a, tn, reduction="sum").item() == pytest.approx(2.5)


def test_hypersphere_eq5_over_sqrt_m_by_hand():
    a, sn, sd, tn = _quad()
    # example 1: t=0: ||a||^2 + ||sn||^2 + ||sd||^2 + ||tn||^2 = 1 + 2 + 9 + 0 = 12
    #            t=1: 1 + 0 + 2.25 + 5 = 8.25;  mean over T = 10.125;  / sqrt(m = 2) = 7.15946
    per_step = hypersphere_loss(a, sn, sd, tn, reduction="none")
    torch.testing.assert_close(per_step, torch.tensor([[12.0, 8.25], [0.0, 0.0]]) / math.sqrt(2))
    assert hypersphere_loss(a, sn, sd, tn, reduction="sum").item() == pytest.approx(10.125 / math.sqrt(2))
    assert hypersphere_loss(a, sn, sd, tn).item() == pytest.approx(10.125 / math.sqrt(2) / 2)


def test_total_eq2_by_hand():
    a, sn, sd, tn = _quad()
    pred, target = torch.tensor([50.0, 40.0]), torch.tensor([52.0, 37.0])
    terms = yield_loss(pred, target, (a, sn, sd, tn), margin=1.0)  # alpha 0.2, beta 0.001, gamma 0.2
    l_us, l_ut, l_r = 0.9375, 1.25, 10.125 / math.sqrt(2) / 2  # batch means of the tests above
    unsup = l_us + 0.001 * l_ut + 0.2 * l_r  # = 0.9375 + 0.00125 + 0.715946 = 1.654696
    assert set(terms) == {"supervised", "spatial", "temporal", "regulariser", "unsupervised", "total"}
    assert terms["supervised"].item() == pytest.approx(6.5)
    assert terms["spatial"].item() == pytest.approx(l_us)
    assert terms["temporal"].item() == pytest.approx(l_ut)
    assert terms["regulariser"].item() == pytest.approx(l_r)
    assert terms["unsupervised"].item() == pytest.approx(unsup)
    assert terms["total"].item() == pytest.approx(6.5 + 0.2 * unsup)  # = 6.830939
    assert terms["total"].item() == pytest.approx(6.830939, abs=1e-5)
    custom = yield_loss(pred, target, (a, sn, sd, tn), margin=1.0, alpha=1.0, beta=1.0, gamma=0.0)
    assert custom["total"].item() == pytest.approx(6.5 + l_us + l_ut)


def test_supervised_only_and_default_margin():
    a, sn, sd, tn = _quad()
    pred, target = torch.tensor([50.0, 40.0]), torch.tensor([52.0, 37.0])
    terms = yield_loss(pred, target)
    assert set(terms) == {"supervised", "total"} and terms["total"].item() == pytest.approx(6.5)
    assert default_margin(2) == 2.0
    by_default = unsupervised_loss(a, sn, sd, tn)
    explicit = unsupervised_loss(a, sn, sd, tn, margin=2.0)
    torch.testing.assert_close(by_default["spatial"], explicit["spatial"])
    # p = 2: example 1 -> (max(0, -1) + max(0, 2.75)) / 2 = 1.375, example 2 -> 2; mean 1.6875
    assert by_default["spatial"].item() == pytest.approx(1.6875)


def test_bad_inputs():
    a, sn, sd, tn = _quad()
    with pytest.raises(InputError, match=r"prediction and target must both be \(N,\)"):
        supervised_loss(torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(InputError, match=r"embedding 'sd' has shape \(1, 2, 2\) but 'a' has \(2, 2, 2\)"):
        spatial_loss(a, sn, sd[:1], margin=1.0)
    with pytest.raises(InputError, match=r"must be \(N, T, m\)"):
        temporal_loss(a[0], tn[0])
    with pytest.raises(InputError, match="margin p must be a finite number >= 0; got -1"):
        spatial_loss(a, sn, sd, margin=-1.0)
    with pytest.raises(InputError, match="unknown reduction 'max'"):
        temporal_loss(a, tn, reduction="max")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="needs reduction 'mean' or 'sum'"):
        unsupervised_loss(a, sn, sd, tn, reduction="none")  # type: ignore[arg-type]
    pred = torch.zeros(2)
    with pytest.raises(InputError, match="loss weight alpha must be a finite number >= 0"):
        yield_loss(pred, pred, (a, sn, sd, tn), alpha=-0.1)
    with pytest.raises(InputError, match="context must be the 4 embeddings"):
        yield_loss(pred, pred, (a, sn, sd))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="context embeddings hold 2 examples but the predictions 3"):
        yield_loss(torch.zeros(3), torch.zeros(3), (a, sn, sd, tn))
