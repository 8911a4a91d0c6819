"""Fitting the ``rf`` baseline: a random forest on spatially averaged monthly features (Section IV-B).

Inputs are the ``averaged`` features of :class:`~geoapp.training.yield_inputs.InputReader` (the
anchor tile's mean of every band and month, standardised with the training years' statistics).
scikit-learn's :class:`~sklearn.ensemble.RandomForestRegressor` fits the forest; it is then kept as
plain node arrays (:class:`~geoapp.models.baselines.forest.TreeEnsemble`) and saved as safetensors
with a JSON card like every geoapp model, never pickled. The paper gives no hyperparameters; the
defaults here are scikit-learn's with ``min_samples_leaf = 5`` and a third of the features tried at
each split (the usual choice for regression forests), 100 trees at ``demo`` size and 500 at ``paper``.
There are no epochs: the validation year is scored, not used to stop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, InputError
from geoapp.models.baselines.forest import TreeEnsemble, forest_from_sklearn
from geoapp.training.checkpoint import check_card, check_weights_fit, clear_previous_run, load_checkpoint, save_checkpoint
from geoapp.training.metrics import rmse_r2
from geoapp.training.metrics_log import MetricsLog
from geoapp.training.monitor import TrainingMonitor
from geoapp.training.results import InvalidResultError, verify_dataset
from geoapp.training.yield_config import YieldTrainConfig, check_checkpoint_arg
from geoapp.training.yield_data import Examples, YieldTileSource, check_dataset_arg, dataset_year
from geoapp.training.yield_inputs import InputReader
from geoapp.training.yield_runs import YieldPredictions, dataset_card, kept_bands, train_card

__all__ = ["FOREST_APPLIES", "FOREST_SIZES", "train_forest", "load_forest", "ForestPredictor"]

FOREST_APPLIES: tuple[str, ...] = ("model", "size", "test_year", "n_train_years", "seed", "max_train_examples", "exclude_group")
"""The YieldTrainConfig fields ``rf`` uses."""

FOREST_SIZES: dict[str, dict[str, Any]] = {
    "demo": {"n_estimators": 100, "min_samples_leaf": 5, "max_features": 1 / 3},
    "paper": {"n_estimators": 500, "min_samples_leaf": 5, "max_features": 1 / 3},
}
"""RandomForestRegressor settings per size."""


def train_forest(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out: Path,
    years: tuple[list[int], int, int],
    *,
    resume: bool = False,
    progress: bool = True,
    monitor: TrainingMonitor | None = None,
) -> Path:
    """Fit the forest in the checked run folder ``out`` on ``years``; returns ``out/best``.

    Raises:
        InputError: a year without labelled counties.
        InvalidResultError: a validation or test score that is not finite.
    """
    from sklearn.ensemble import RandomForestRegressor  # imported here: only fitting needs scikit-learn

    monitor = monitor or TrainingMonitor()
    train_years, val_year, test_year = years
    t0 = time.perf_counter()
    monitor.report({"event": "start", "epochs": 1, "steps": 1, "start_epoch": 0, "device": "cpu", "world_size": 1})
    source = YieldTileSource(ds, train_years, bands=kept_bands(cfg.exclude_group))
    ex_train, ex_val, ex_test = (source.examples(y) for y in (train_years, [val_year], [test_year]))
    if cfg.max_train_examples > 0 and len(ex_train) > cfg.max_train_examples:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(ex_train), cfg.max_train_examples, replace=False))
        ex_train = Examples(ex_train.county[keep], ex_train.year[keep], ex_train.target[keep])
    if len(ex_train) < 2:
        raise InputError(f"{len(ex_train)} training example(s) in {train_years}: a forest needs at least 2")
    reader = InputReader("averaged", source)
    x_train, x_val, x_test = (reader.all(ex).numpy() for ex in (ex_train, ex_val, ex_test))
    settings = {**FOREST_SIZES[cfg.size], "random_state": cfg.seed, "n_jobs": 1}
    forest = RandomForestRegressor(**settings).fit(x_train, ex_train.target.astype(np.float64))
    model = forest_from_sklearn(forest)
    val_rmse, val_r2 = rmse_r2(ex_val.target, model.predict(x_val))
    test_rmse, test_r2 = rmse_r2(ex_test.target, model.predict(x_test))
    if not (np.isfinite(val_rmse) and np.isfinite(test_rmse)):
        raise InvalidResultError(
            f"rf on {test_year} gives validation RMSE {val_rmse} and test RMSE {test_rmse}; check the dataset"
        )
    seconds = time.perf_counter() - t0
    clear_previous_run(out)
    record = MetricsLog(out / "metrics.jsonl").write(
        epoch=1, seconds=seconds, samples_per_s=len(ex_train) / seconds, val_rmse=val_rmse, val_r2=val_r2
    )
    card = {
        "model": "rf",
        "kind": "yield-baseline",
        **train_card(cfg, FOREST_APPLIES),
        "model_config": {
            **{k: v for k, v in settings.items() if k != "n_jobs"},
            "n_nodes": len(model.value),
            "n_trees": len(model.roots),
            "n_features": model.n_features,
            "in_channels": len(source.bands),
            "n_steps": len(source.mean),
        },
        "inputs": reader.card(),
        "dataset": dataset_card(ds),
        "years": {"train": train_years, "validation": val_year, "test": test_year},
        "normalisation": {"bands": list(source.bands), "mean": source.mean.tolist(), "std": source.std.tolist()},
        "epoch": 1,
        "metrics": {**record, "test_rmse": test_rmse, "test_r2": test_r2},
    }
    best = save_checkpoint(out / "best", model, card)
    monitor.report({"event": "epoch", **record})
    monitor.report({"event": "end", "checkpoint": str(best), "stopped_early": False})
    return best


class ForestPredictor:
    """A loaded ``rf`` checkpoint that predicts a year of a dataset (the registry's predictor)."""

    def __init__(self, model: TreeEnsemble, card: dict[str, Any]) -> None:
        self.model, self.card = model, card

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> YieldPredictions:
        """Predictions for the labelled counties of ``year``; ``mask_group``'s standardised features set to 0."""
        year = dataset_year(ds, year)
        norm = self.card["normalisation"]
        source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
        ex = source.examples([year])
        x = InputReader("averaged", source).all(ex, mask_group).numpy()
        pred = self.model.predict(x) if len(ex) else np.zeros(0)
        return YieldPredictions(ex.county, year, ex.target.astype(np.float64), pred)


def load_forest(folder: str | Path, ds: YieldDataset | None = None) -> ForestPredictor:
    """The predictor of an ``rf`` checkpoint; with ``ds``, the card must match its data.

    Raises:
        DataFileError: the card or the weights are invalid or do not fit each other.
        InputError: trained on other data, or an argument of the wrong type.
    """
    check_checkpoint_arg(folder)
    weights, card, _ = load_checkpoint(folder)
    if ds is not None:
        check_dataset_arg(ds)
        verify_dataset(ds)
        check_card(card["dataset"], fingerprint=ds.fingerprint, tile_px=ds.tile_px)
    mc = card["model_config"]
    try:
        model = TreeEnsemble(mc["n_nodes"], mc["n_trees"], mc["n_features"])
    except (InputError, KeyError) as exc:
        raise DataFileError(f"checkpoint card {str(Path(folder) / 'card.json')!r}: model_config: {exc}; train it again") from exc
    check_weights_fit(model, weights, folder)
    model.load_state_dict(weights)
    return ForestPredictor(model, card)
