"""What-if ablation for every kind the registry can mask: the baselines go through its one prediction entry point."""

from __future__ import annotations

import numpy as np
import pytest

from geoapp.analysis.ablation import what_if_ablation
from geoapp.data.bands import FEATURE_GROUPS
from geoapp.data.dataset import load_dataset
from geoapp.errors import InputError
from geoapp.models.yield_models import BASELINE_NAMES
from geoapp.training.model_kinds import load_yield_checkpoint, model_kind, predict_yields
from geoapp.training.yield_trainer import YieldTrainConfig, train_yield


def _cfg(model: str, **kw) -> YieldTrainConfig:
    base = dict(model=model, test_year=2016, n_train_years=3, epochs=1, batch_size=16, max_train_examples=64, device="cpu")
    return YieldTrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    dataset = load_dataset(tiny_dataset_path)
    yield dataset
    dataset.close()


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_every_baseline_has_a_what_if_ablation_equal_to_masked_predictions(ds, tmp_path, name):
    assert model_kind(name).supports_ablation
    best = train_yield(_cfg(name), ds, tmp_path / name, progress=False)
    summary, per_county = what_if_ablation(best, ds, 2016)
    assert list(summary["group"]) == ["none (all inputs)", *FEATURE_GROUPS]
    predictor = load_yield_checkpoint(best, ds)
    base = predict_yields(predictor, ds, 2016)
    np.testing.assert_allclose(per_county["predicted"], base.predicted, rtol=1e-6)
    changed = False
    for group in FEATURE_GROUPS:
        masked = predict_yields(predictor, ds, 2016, mask_group=group).predicted
        np.testing.assert_allclose(per_county[f"{group}_change"], masked - base.predicted, atol=1e-6)
        rmse = float(np.sqrt(np.mean((masked - base.target) ** 2)))
        assert summary.set_index("group").loc[group, "rmse"] == pytest.approx(rmse)
        changed |= bool(np.abs(masked - base.predicted).max() > 1e-6)
    assert changed, f"masking no group changed any {name} prediction"


def test_a_baseline_retrained_without_a_group_is_not_asked_about_it(ds, tmp_path):
    best = train_yield(_cfg("mlp", exclude_group="PPT"), ds, tmp_path / "mlp-no-ppt", progress=False)
    summary, per_county = what_if_ablation(best, ds, 2016)
    assert "PPT" not in set(summary["group"]) and "PPT_change" not in per_county
    assert "VI_change" in per_county


def test_a_year_without_labels_is_refused_for_a_baseline(ds, tmp_path):
    best = train_yield(_cfg("ridge"), ds, tmp_path / "ridge", progress=False)
    with pytest.raises(InputError):
        what_if_ablation(best, ds, 1999)
