"""Fitting the ``ridge`` baseline (the paper's LR) with the same nested years and checkpoint format as the deep models.

Features are the anchor-tile means of every kept band and month (:func:`ridge_features`), the model
is closed-form ridge regression (:mod:`geoapp.models.ridge`) with alpha chosen on the validation year.
As for the deep models: a run folder holding another run is not overwritten unless asked (``force``),
a fit or a score that is not finite is refused, and a year without labelled counties is an error.
Cards written before runs could leave out a feature group name no ``bands``: they read all of
:data:`~geoapp.data.bands.BANDS`.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geoapp.data.args import as_bool, as_path, given
from geoapp.data.bands import BANDS, check_bands, group_bands
from geoapp.data.dataset import YieldDataset
from geoapp.data.tiles import anchor_tile_means
from geoapp.errors import DataFileError, InputError
from geoapp.models.ridge import RidgeRegression, fit_ridge
from geoapp.training.checkpoint import check_card, clear_previous_run, load_checkpoint, run_folder, save_checkpoint
from geoapp.training.metrics import rmse_r2
from geoapp.training.metrics_log import MetricsLog
from geoapp.training.monitor import TrainingMonitor
from geoapp.training.results import InvalidResultError, verify_dataset
from geoapp.training.yield_config import YieldTrainConfig, check_checkpoint_arg
from geoapp.training.yield_data import check_dataset_arg, dataset_year, dataset_years
from geoapp.training.yield_runs import YieldPredictions, dataset_card, kept_bands, train_card

__all__ = [
    "RIDGE_APPLIES",
    "ridge_features",
    "fill_missing",
    "train_ridge",
    "fit_ridge_run",
    "evaluate_ridge",
    "load_ridge",
    "load_ridge_predictor",
    "RidgePredictor",
]

RIDGE_APPLIES: tuple[str, ...] = ("model", "test_year", "n_train_years", "exclude_group")
"""The YieldTrainConfig fields ridge uses (closed form: no epochs, seed or device)."""


def ridge_features(
    ds: YieldDataset, years: list[int], bands: tuple[str, ...] = BANDS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features (N, T*C) of the labelled examples of ``years``, their yields, county rows and years.

    Column ``t * C + c`` is the anchor-tile mean of band ``bands[c]`` in month ``t``, NaN where the tile
    has no data in that band and month (a missing month of a product): the model reads a missing
    feature as its training mean (:class:`~geoapp.models.ridge.RidgeRegression`). N is 0 for years
    without labelled counties.

    Raises:
        InputError: ``ds`` is not a loaded dataset, ``years`` not a list of whole years (a single year
            included: give ``[2015]``), a year is not in the dataset, or an unknown band.
    """
    years = dataset_years(ds, years)
    bands = check_bands(bands)
    means = anchor_tile_means(ds)[..., [BANDS.index(b) for b in bands]]  # (Y, counties, T, C)
    lab = ds.labelled()
    lab = lab[lab["year"].isin(years)]
    if lab.empty:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros((0, int(np.prod(means.shape[2:]))), np.float64), np.zeros(0, np.float64), empty, empty
    row_of = {g: i for i, g in enumerate(ds.counties["geoid"])}
    county = lab["geoid"].map(row_of).to_numpy(dtype=np.int64)
    year = lab["year"].to_numpy(dtype=np.int64)
    x = means[[ds.years.index(int(y)) for y in year], county].reshape(len(lab), -1).astype(np.float64)
    return x, lab["yield"].to_numpy(dtype=np.float64), county, year


def fill_missing(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``x`` (N, F) with each missing (NaN) feature set to its mean over ``train`` (M, F), 0 where ``train`` has none.

    What :class:`~geoapp.models.ridge.RidgeRegression` does with a missing feature, done before the fit
    (which needs finite numbers) on the training, validation and test features alike.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: its mean is NaN, then 0
        mean = np.nanmean(train, axis=0) if len(train) else np.zeros(x.shape[1])
    mean = np.where(np.isfinite(mean), mean, 0.0)
    return np.where(np.isnan(x), mean, x)


def train_ridge(
    ds: YieldDataset, train_years: list[int], val_year: int, test_year: int, out_dir: str | Path, force: bool = False
) -> Path:
    """Fit ridge (alpha chosen on ``val_year``) on every band; save ``out_dir/best`` (the same card layout as the deep models).

    ``out_dir`` must be new or empty unless ``force`` (the run it holds is replaced). A folder this
    call created is removed again if the fit fails. ``train_yield`` with ``model="ridge"`` does the
    same from a :class:`YieldTrainConfig`.

    Raises:
        InputError: a year without labelled counties; ``out_dir`` holds another run (without ``force``).
        InvalidResultError: the fit gives a score that is not finite.
        DataFileError: ``out_dir`` cannot be written.
    """
    check_dataset_arg(ds)
    train_years = dataset_years(ds, train_years, "train_years")
    val_year, test_year = dataset_year(ds, val_year), dataset_year(ds, test_year)
    out_dir = as_path(out_dir, "out_dir")
    force = as_bool(force, "force")
    verify_dataset(ds)
    cfg = YieldTrainConfig(model="ridge", test_year=test_year, n_train_years=max(1, len(train_years)))
    with run_folder(out_dir, force=force) as out:
        return fit_ridge_run(cfg, ds, out, (train_years, val_year, test_year))


def fit_ridge_run(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out: Path,
    years: tuple[list[int], int, int],
    monitor: TrainingMonitor | None = None,
) -> Path:
    """Fit ridge in the checked run folder ``out`` on ``years`` (train, validation, test); returns ``out/best``.

    The body of :func:`train_ridge` and of ``train_yield`` for ``ridge``. Reports one epoch to ``monitor``.
    """
    train_years, val_year, test_year = years
    monitor = monitor or TrainingMonitor()
    bands = kept_bands(cfg.exclude_group)
    t0 = time.perf_counter()
    monitor.report({"event": "start", "epochs": 1, "steps": 1, "start_epoch": 0, "device": "cpu", "world_size": 1})
    x_tr, y_tr, _, _ = ridge_features(ds, train_years, bands)
    x_va, y_va, _, _ = ridge_features(ds, [val_year], bands)
    x_te, y_te, _, _ = ridge_features(ds, [test_year], bands)
    for role, yrs, y in (("training", train_years, y_tr), ("validation", [val_year], y_va), ("test", [test_year], y_te)):
        if len(y) == 0:
            raise InputError(f"no labelled counties in the {role} year(s) {yrs} of dataset {ds.name!r}; choose other years")
    x_tr, x_va, x_te = (fill_missing(x, x_tr) for x in (x_tr, x_va, x_te))  # a missing feature: the training mean
    if not all(np.isfinite(a).all() for a in (x_tr, x_va, x_te)):
        raise InvalidResultError(
            f"ridge on {test_year}: the features of dataset {ds.name!r} hold infinite values; "
            "check the dataset (python -m geoapp data info)"
        )
    model, alpha = fit_ridge(x_tr, y_tr, x_va, y_va)
    with torch.no_grad():
        val_rmse, val_r2 = rmse_r2(y_va, model(torch.from_numpy(x_va)).numpy())
        test_rmse, test_r2 = rmse_r2(y_te, model(torch.from_numpy(x_te)).numpy())
    if not all(np.isfinite([val_rmse, test_rmse])) or not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()):
        raise InvalidResultError(
            f"ridge on {test_year} gives validation RMSE {val_rmse} and test RMSE {test_rmse}: the features of dataset "
            f"{ds.name!r} are not finite numbers; check the dataset (python -m geoapp data info)"
        )
    seconds = time.perf_counter() - t0
    clear_previous_run(out)  # a new run (an empty folder, or one replaced with force)
    record = MetricsLog(out / "metrics.jsonl").write(
        epoch=1, seconds=seconds, samples_per_s=len(y_tr) / seconds, val_rmse=val_rmse, val_r2=val_r2, alpha=alpha
    )
    card = {
        "model": "ridge",
        "kind": "ridge",
        **train_card(cfg, RIDGE_APPLIES),
        "n_features": int(x_tr.shape[1]),
        "bands": list(bands),
        "dataset": dataset_card(ds),
        "years": {"train": train_years, "validation": val_year, "test": test_year},
        "epoch": 1,
        "metrics": {**record, "test_rmse": test_rmse, "test_r2": test_r2},
    }
    best = save_checkpoint(out / "best", model, card)
    monitor.report({"event": "epoch", **record})
    monitor.report({"event": "end", "checkpoint": str(best), "stopped_early": False})
    return best


class RidgePredictor:
    """A loaded ridge checkpoint that predicts a year of a dataset (the registry's predictor)."""

    def __init__(self, model: RidgeRegression, card: dict[str, Any], folder: Path) -> None:
        self.model, self.card, self.folder = model, card, folder
        self.bands: tuple[str, ...] = tuple(card.get("bands") or BANDS)

    def predict(self, ds: YieldDataset, year: int, mask_group: str | None = None) -> YieldPredictions:
        """Predictions for the labelled counties of ``year``.

        ``mask_group`` sets that group's features (every month) to their training mean, i.e. 0 once
        standardised, as the deep models' masking does.

        Raises:
            InputError: ``year`` not in the dataset, an unknown ``mask_group``, or a dataset whose features
                differ from the checkpoint's.
        """
        year = dataset_year(ds, year)
        masked = group_bands(mask_group) if mask_group is not None else ()
        x, y, county, _ = ridge_features(ds, [year], self.bands)
        if len(y) and x.shape[1] != self.model.coef.shape[0]:
            raise InputError(
                f"ridge checkpoint {str(self.folder)!r} takes {self.model.coef.shape[0]} features; dataset {ds.name!r} "
                f"gives {x.shape[1]} (other bands or months): train ridge on this dataset"
            )
        n_months = x.shape[1] // max(len(self.bands), 1)
        cols = [t * len(self.bands) + c for t in range(n_months) for c, b in enumerate(self.bands) if b in masked]
        if cols and len(y):
            x[:, cols] = self.model.mean.numpy()[cols]
        with torch.no_grad():
            pred = self.model(torch.from_numpy(x)).numpy() if len(y) else np.zeros(0)
        return YieldPredictions(county, year, y, pred.astype(np.float64))


def load_ridge_predictor(folder: str | Path, ds: YieldDataset | None = None) -> RidgePredictor:
    """The predictor of a ridge checkpoint; with ``ds``, the card must match its data.

    Raises:
        DataFileError: the card or the weights are invalid.
        InputError: the checkpoint was trained on other data; an argument of the wrong type.
    """
    check_checkpoint_arg(folder)
    weights, card, _ = load_checkpoint(folder)
    if ds is not None:
        check_dataset_arg(ds)
        verify_dataset(ds)
        check_card(card["dataset"], fingerprint=ds.fingerprint, tile_px=ds.tile_px)
    return RidgePredictor(load_ridge(folder, weights, card), card, Path(folder))


def evaluate_ridge(folder: str | Path, ds: YieldDataset, year: int | None = None) -> dict:
    """RMSE, R^2 and the per-county table of a ridge checkpoint: ``evaluate_yield``, with the same errors.

    The predictions are the checkpoint's as the app makes them: with the trend (``trend = linear``) and
    the residual calibration its card holds, in bu/acre.

    Raises:
        InputError: the checkpoint is not ridge's, or as ``evaluate_yield``.
    """
    from geoapp.training.yield_trainer import evaluate_yield  # the trainer of every kind imports this module

    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    result = evaluate_yield(folder, ds, year)
    if result["model"] != "ridge":
        raise InputError(f"checkpoint {str(folder)!r} is a {result['model']!r} model, not ridge; use evaluate_yield")
    return result


def load_ridge(folder: str | Path, weights: dict[str, torch.Tensor], card: dict) -> RidgeRegression:
    """The ridge model of a checkpoint's weights and (validated) card.

    Raises:
        DataFileError: the weights do not fit the card's ``n_features``.
        InputError: ``folder`` is not a path, ``weights`` not a dict of tensors, or ``card`` not a ridge
            card (a dict with a whole ``n_features`` of at least 1, as :func:`load_checkpoint` returns).
    """
    folder = as_path(folder, "folder")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise InputError(f"weights must be a dict of tensors (from load_checkpoint), got {given(weights)}")
    n_features = card.get("n_features") if isinstance(card, dict) else None
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise InputError(
            f"card must be a ridge checkpoint card (from load_checkpoint) with a whole n_features of at least 1, "
            f"got {given(card)}"
        )
    model = RidgeRegression(n_features)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        shapes = {k: tuple(v.shape) for k, v in weights.items()}
        raise DataFileError(
            f"ridge checkpoint {str(folder)!r} does not fit its own card: n_features={card['n_features']} but the weights "
            f"hold {shapes}; the checkpoint is damaged: train it again"
        ) from exc
    return model
