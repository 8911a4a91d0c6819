"""Training and evaluation of every crop-yield model kind on a dataset folder.

:func:`train_yield` trains any model of :data:`~geoapp.models.yield_models.MODEL_NAMES` (the
attention models and the paper's baselines) through the registry of model kinds
(:mod:`geoapp.training.model_kinds`), and :func:`evaluate_yield` scores any kind's checkpoint. Every
kind follows the same rules:

- temporal nested validation (Section IV-D, :func:`nested_years`): for test year y, the validation
  year is y - 1 and the training years are y - N_y - 1 .. y - 2;
- inputs standardised per month and band on the training years
  (:class:`geoapp.training.yield_data.YieldTileSource`);
- the best-on-validation model as a safetensors + JSON-card checkpoint (``best/``), metrics per epoch
  as JSON lines (``metrics.jsonl``), progress events and cancellation through a
  :class:`~geoapp.training.monitor.TrainingMonitor`;
- a run folder that holds another run is not overwritten unless asked (``force``), and a run that
  fails before its first checkpoint leaves no folder it created behind;
- a run never shows a wrong result as valid: a non-finite loss stops it
  (:class:`~geoapp.training.results.TrainingDiverged`), and an evaluation with no county or a NaN
  score is refused (:func:`~geoapp.training.results.check_scores`).

The attention models' loop is :mod:`geoapp.training.attention_trainer`; the baselines' are
:mod:`geoapp.training.ridge_trainer`, :mod:`geoapp.training.forest_trainer` and
:mod:`geoapp.training.network_trainer`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from geoapp.data.args import as_bool, as_path, given
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.fileio import atomic_write_text
from geoapp.training.attention_trainer import load_yield_model, predict_examples
from geoapp.training.calibration import (
    CALIBRATIONS,
    CalibratedPredictor,
    fit_calibration,
    fit_to_residuals,
    residuals_of,
    shift,
)
from geoapp.training.calibration import from_card as calibration_from_card
from geoapp.training.checkpoint import CARD, read_card, run_folder, validate_card
from geoapp.training.metrics import rmse_r2
from geoapp.training.model_kinds import load_yield_checkpoint, model_kind
from geoapp.training.monitor import TrainingMonitor
from geoapp.training.results import check_scores, verify_dataset
from geoapp.training.trend import detrended, fit_trend
from geoapp.training.yield_config import MODEL_OVERRIDE_KEYS, YieldTrainConfig, check_checkpoint_arg, nested_years
from geoapp.training.yield_data import check_dataset_arg, dataset_year

__all__ = [
    "YieldTrainConfig",
    "MODEL_OVERRIDE_KEYS",
    "nested_years",
    "train_yield",
    "load_yield_model",
    "predict_examples",
    "evaluate_yield",
    "calibrate_checkpoint",
    "calibrated_scores",
    "rmse_r2",
    "check_checkpoint_arg",
    "check_dataset_arg",
]


def train_yield(
    cfg: YieldTrainConfig,
    ds: YieldDataset,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    monitor: TrainingMonitor | None = None,
    force: bool = False,
) -> Path:
    """Train one (model of any kind, test year); returns the ``best`` checkpoint folder under ``out_dir``.

    ``cfg.model`` picks the kind (:func:`~geoapp.training.model_kinds.model_kind`); the fields of
    ``cfg`` the kind does not use are ignored, and its card's ``applies`` lists the ones it used.
    The attention models run in one process, or under ``torchrun`` as one of several data-parallel workers
    (:mod:`geoapp.training.distributed`: the global batch is split between workers; rank 0 validates
    and writes). ``monitor`` receives progress events and may ask to stop
    (:mod:`geoapp.training.monitor`); a stop raises :class:`TrainingCancelled` after the last
    finished epoch's ``last/`` checkpoint.

    ``out_dir`` must be new or empty, unless ``resume`` (continue from its ``last/``, which must
    exist) or ``force`` (replace the run it holds: its ``best/``, ``last/`` and metrics are set aside
    when training starts, dropped once the new run writes its ``best/``, and put back if it fails before).
    A folder this call created is removed again if training fails before
    its first checkpoint.

    Raises:
        DataFileError: ``out_dir`` cannot be written (checked before training), or a checkpoint could
            not be saved (a full disk: the previous ``best/`` and ``last/`` stay intact).
        InputError: the dataset lacks the years of the nested validation or their yields; ``out_dir``
            holds another run (without ``force``); ``resume`` without a ``last/`` checkpoint, or for a
            kind that is not resumable.
        TrainingDiverged: a loss was not finite (all workers stop at that step), or no epoch gave a
            finite validation RMSE (no ``best/`` exists).
        TrainingCancelled: the monitor asked to stop.
    """
    if not isinstance(cfg, YieldTrainConfig):
        raise InputError(f"cfg must be a YieldTrainConfig (e.g. YieldTrainConfig.from_dict(...)), got {given(cfg)}")
    check_dataset_arg(ds)
    out_dir = as_path(out_dir, "out_dir")
    resume, progress, force = as_bool(resume, "resume"), as_bool(progress, "progress"), as_bool(force, "force")
    if monitor is not None and not isinstance(monitor, TrainingMonitor):
        raise InputError(f"monitor must be a geoapp.training.monitor.TrainingMonitor or None, got {given(monitor)}")
    verify_dataset(ds)
    train_years, val_year, test_year = nested_years(cfg.test_year, cfg.n_train_years, ds.years)
    for role, year in (("validation", val_year), ("test", test_year)):
        if ds.labelled(year).empty:
            which = f"the test year {year}"
            if role == "validation":
                which = f"the validation year {year} (the year before test year {test_year})"
            raise InputError(
                f"{which} has no labelled counties in dataset {ds.name!r}; "
                "choose a test year whose year and the year before have yields"
            )
    kind = model_kind(cfg.model)
    if not kind.data_parallel and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise InputError(f"{cfg.model} trains in one process; start it without torchrun (one worker)")
    if resume and not kind.resumable:
        raise InputError(
            f"{cfg.model} trains in one go and writes no last/ checkpoint to resume from; train it again "
            "without resume (with force to replace the run it holds)"
        )
    as_given = ds
    if cfg.trend == "linear":  # every kind trains on yield - trend(year); its card keeps the trend
        ds = detrended(ds, fit_trend(ds, train_years))
    with run_folder(out_dir, force=force, resume=resume) as out:
        years = (train_years, val_year, test_year)
        best = kind.train(cfg, ds, out, years, resume=resume, progress=progress, monitor=monitor or TrainingMonitor())
    main = int(os.environ.get("RANK", "0") or 0) == 0  # under torchrun, rank 0 alone writes the card
    # fitted to the best model's training-year residuals, on the yields as they are; a resumed run whose
    # best/ holds an earlier calibration gets this run's (none removes it)
    if main and (cfg.calibration != "none" or (resume and read_card(best).get("calibration"))):
        calibrate_checkpoint(best, as_given, cfg.calibration)
    return best


def calibrate_checkpoint(folder: str | Path, ds: YieldDataset, kind: str) -> dict[str, Any] | None:
    """Fit a residual calibration (:mod:`geoapp.training.calibration`) to a checkpoint and record it in its card.

    The fit uses the checkpoint's training years (its card's ``years``) only, on the model's own
    predictions (trend included); a calibration the card already holds, even a damaged one, is
    replaced, and ``kind`` ``none`` removes it. The card's ``metrics`` (val/test RMSE and R^2) then
    score the calibrated predictions as the card stores them; the model's own scores are kept in the
    entry's ``uncalibrated_metrics`` and put back by ``none``. ``train_config.calibration`` and
    ``applies`` follow. The card is rewritten whole or not at all (a temporary file renamed over it).

    Returns:
        the card's new ``calibration`` entry, or None for ``none``.

    Raises:
        InputError: an unknown kind, not a crop-yield checkpoint, trained on other data, or fewer than
            two training years (a trend needs two).
        DataFileError: the card or weights are invalid, or the card cannot be written.
    """
    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    if kind not in CALIBRATIONS:
        raise InputError(f"calibration must be one of {list(CALIBRATIONS)}, got {given(kind)}")
    predictor = load_yield_checkpoint(folder, ds, calibrated=False)
    card = dict(read_card(folder))
    metrics = dict(card.get("metrics") or {})
    old = card.pop("calibration", None)
    if isinstance(old, dict) and isinstance(old.get("uncalibrated_metrics"), dict):
        metrics.update({k: v for k, v in old["uncalibrated_metrics"].items() if k in _SCORES})
    entry = None
    if kind != "none":
        years = card["years"]
        fitted = fit_calibration(kind, predictor, ds, years["train"], years["validation"])
        entry = fitted.to_card()
        stored = calibration_from_card({"calibration": entry})  # score what the card holds (offsets rounded)
        scored = CalibratedPredictor(predictor, stored)
        entry["uncalibrated_metrics"] = {k: metrics[k] for k in _SCORES if k in metrics}
        for role in ("val", "test"):
            year = years["validation" if role == "val" else "test"]
            if ds.labelled(year).empty:
                continue
            out = scored.predict(ds, int(year))
            metrics[f"{role}_rmse"], metrics[f"{role}_r2"] = rmse_r2(out.target, out.predicted)
        card["calibration"] = entry
    card["metrics"] = metrics
    if isinstance(card.get("train_config"), dict):
        card["train_config"] = {**card["train_config"], "calibration": kind}
    if isinstance(card.get("applies"), list) and "calibration" not in card["applies"]:
        card["applies"] = [*card["applies"], "calibration"]
    path = Path(folder) / CARD
    validate_card(card, path)
    atomic_write_text(path, json.dumps(card, indent=1))
    return entry


def calibrated_scores(folder: str | Path, ds: YieldDataset, year: int | None = None) -> dict[str, dict[str, float]]:
    """RMSE and R^2 of a checkpoint on its test year (or ``year``) under each residual calibration, the card untouched.

    Each calibration (``trend``, ``county-trend``: :mod:`geoapp.training.calibration`) is fitted to the
    model's own residuals on the card's training years, as :func:`calibrate_checkpoint` would fit it; a
    calibration the card already holds is left out of the model's predictions first.

    Returns:
        ``{kind: {"rmse", "r2", "slope_bu_per_year", "county_sd_bu"}}`` for both kinds.

    Raises:
        InputError: not a crop-yield checkpoint, other data, or a year the dataset lacks.
        DataFileError: the card or weights are invalid.
    """
    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    predictor = load_yield_checkpoint(folder, ds, calibrated=False)
    card = predictor.card
    year = dataset_year(ds, year if year is not None else card["years"]["test"])
    residuals = residuals_of(predictor, ds, card["years"]["train"])
    out = predictor.predict(ds, year)
    scores = {}
    for kind in ("trend", "county-trend"):
        cal = fit_to_residuals(kind, residuals)
        rmse, r2 = rmse_r2(out.target, out.predicted + shift(cal, ds, out.county, year))
        check_scores({"year": year, "n": len(out), "rmse": rmse, "r2": r2}, checkpoint=folder, dataset=ds.name)
        scores[kind] = {"rmse": rmse, "r2": r2, "slope_bu_per_year": cal.slope, "county_sd_bu": cal.county_sd}
    return scores


_SCORES = ("val_rmse", "val_r2", "test_rmse", "test_r2")
"""Card metrics a calibration changes (the model's own are kept in its ``uncalibrated_metrics``)."""


def evaluate_yield(folder: str | Path, ds: YieldDataset, year: int | None = None, calibrated: bool = True) -> dict[str, Any]:
    """RMSE and R^2 of a checkpoint of any kind on its test year (or ``year``) and a per-county table.

    By default (``calibrated`` True) the predictions include the residual calibration the card holds,
    if any (:mod:`geoapp.training.calibration`), as the app shows them; False scores the model's own
    predictions. A trend (``trend = linear``) is always added back: it is part of the model.

    Returns:
        dict with ``model``, ``rmse``, ``r2``, ``year``, ``n`` and ``table`` (DataFrame: geoid, year,
        true, predicted).

    Raises:
        InputError: ``year`` is not in the dataset or has no labelled county; the checkpoint is not a
            crop-yield model or was trained on other data.
        DataFileError: the checkpoint's card or weights are invalid.
        InvalidResultError: the RMSE or R^2 is not a finite number.
    """
    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    predictor = load_yield_checkpoint(folder, ds, calibrated=as_bool(calibrated, "calibrated"))
    card = predictor.card
    year = dataset_year(ds, year if year is not None else card["years"]["test"])
    out = predictor.predict(ds, year)
    rmse, r2 = rmse_r2(out.target, out.predicted)
    result = {"model": card["model"], "year": year, "n": len(out), "rmse": rmse, "r2": r2, "table": out.table(ds)}
    return check_scores(result, checkpoint=folder, dataset=ds.name)
