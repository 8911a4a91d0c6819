"""A moving average of the weights (``ema``): scored and saved instead of the trained weights, continued on resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from geoapp.app_support.training import ignored_settings
from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.training.checkpoint import AVERAGE
from geoapp.training.monitor import TrainingCancelled
from geoapp.training.weight_average import ema_of
from geoapp.training.yield_config import YieldTrainConfig
from geoapp.training.yield_trainer import evaluate_yield, train_yield

from .test_yield_trainer import _cfg, _Recorder


@pytest.fixture(scope="module")
def ds(tiny_dataset_path):
    return load_dataset(tiny_dataset_path)


def test_the_average_follows_the_weights_by_the_decay():
    model = torch.nn.Linear(2, 1)
    averaged = ema_of(model, 0.9)
    start = model.weight.detach().clone()
    averaged.update_parameters(model)  # the first update copies the weights
    with torch.no_grad():
        model.weight.add_(1.0)
    averaged.update_parameters(model)
    torch.testing.assert_close(averaged.module.weight, start + 0.1)  # 0.9 * w + 0.1 * (w + 1)
    assert ema_of(model, 0.0) is None
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(InputError, match="ema must be 0"):
            YieldTrainConfig(ema=bad)


def _weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_the_best_checkpoint_holds_the_average_and_last_keeps_both(ds, tmp_path):
    best = train_yield(_cfg("semi-ha", epochs=2, ema=0.9), ds, tmp_path / "ema", progress=False)
    card = json.loads((best / "card.json").read_text())
    assert card["train_config"]["ema"] == 0.9 and "ema" in card["applies"]
    last = tmp_path / "ema" / "last"
    averaged = load_file(str(last / AVERAGE))
    trained = _weights(last)
    # last/ keeps the trained weights and the average beside them; best/ is an average (of the epoch it was chosen at)
    assert set(averaged) == {f"module.{k}" for k in trained} | {"n_averaged"}
    assert any(not torch.equal(averaged[f"module.{k}"], v) for k, v in trained.items() if v.is_floating_point())
    assert np.isfinite(evaluate_yield(best, ds)["rmse"])
    # one epoch: best/ is that epoch's average, exactly, and its validation RMSE the average's
    one = train_yield(_cfg("semi-ha", epochs=1, ema=0.9), ds, tmp_path / "one", progress=False)
    averaged = load_file(str(tmp_path / "one" / "last" / AVERAGE))
    for k, v in _weights(one).items():
        torch.testing.assert_close(v, averaged[f"module.{k}"], atol=0, rtol=0)
    card = json.loads((one / "card.json").read_text())
    assert card["metrics"]["val_rmse"] == pytest.approx(evaluate_yield(one, ds, year=2015)["rmse"], rel=1e-5)
    # without ema nothing changes: no average file, and the model is another one
    plain = train_yield(_cfg("semi-ha", epochs=2), ds, tmp_path / "plain", progress=False)
    assert not (tmp_path / "plain" / "last" / AVERAGE).exists()
    assert (plain / "model.safetensors").read_bytes() != (best / "model.safetensors").read_bytes()


def test_a_resumed_run_continues_the_average_as_if_never_stopped(ds, tmp_path):
    cfg = _cfg("s-ha", epochs=2, ema=0.9)
    whole = tmp_path / "whole"
    train_yield(cfg, ds, whole, progress=False)
    cut = tmp_path / "cut"
    with pytest.raises(TrainingCancelled):
        train_yield(cfg, ds, cut, progress=False, monitor=_Recorder(stop_after_steps=4))
    train_yield(cfg, ds, cut, resume=True, progress=False)
    a, b = load_file(str(whole / "last" / AVERAGE)), load_file(str(cut / "last" / AVERAGE))
    assert a.keys() == b.keys()
    # the average went on over the steps before the stop (a restarted one would count the second epoch's only);
    # a resume is not bit-exact on the CPU (the trained weights differ by about 1e-3), so neither is the average
    assert int(a["n_averaged"]) == int(b["n_averaged"]) > 4
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-2, rtol=0)
    # a run with another decay, or without one, is another run; a missing average is named
    with pytest.raises(InputError, match="ema"):
        train_yield(_cfg("s-ha", epochs=3, ema=0.5), ds, cut, resume=True, progress=False)
    (cut / "last" / AVERAGE).unlink()
    with pytest.raises(DataFileError, match="moving average"):
        train_yield(_cfg("s-ha", epochs=3, ema=0.9), ds, cut, resume=True, progress=False)


def test_the_baselines_and_the_training_page_list_ema_as_ignored_where_it_is():
    for name in ("ridge", "rf", "mlp", "lstm-gp", "cnn-gp", "c3d", "cnn-lstm"):
        assert any("EMA" in s for s in ignored_settings(name)), name
    for name in ("s-ha", "semi-ha", "semi-sa", "semi-ha-loc"):
        assert not any("EMA" in s for s in ignored_settings(name)), name
