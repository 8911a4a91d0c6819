"""What-if feature ablation at inference: mask one feature group and measure the change in error.

Masking replaces the group by the training mean; the change in predictions and in their error is
measured for every county of a year.

Groups are the paper's (Section IV-G): VI = ndvi + evi, LST = lst_day + lst_night, PPT, SOIL =
sand + silt + clay, ELE = elevation. Unlike the paper's Figure 7 (retrain without the group), this
needs no retraining: it asks what the trained model relies on. :func:`retrain_ablation` gives the
Figure 7 view when checkpoints retrained without a group exist (``train yield --exclude-group G``):
it asks how much the group is worth when the model may learn to do without it.

A year the dataset does not hold or without labelled counties is an
:class:`~geoapp.errors.InputError`; a score that is not finite an
:class:`~geoapp.training.results.InvalidResultError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from geoapp.analysis.result_cache import cached
from geoapp.data.bands import FEATURE_GROUPS, MONTHS, group_bands
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.training.checkpoint import check_card, load_checkpoint, read_card
from geoapp.training.results import InvalidResultError, verify_dataset
from geoapp.training.yield_data import YieldTileSource, dataset_year
from geoapp.training.yield_trainer import (
    check_checkpoint_arg,
    check_dataset_arg,
    load_yield_model,
    predict_examples,
    rmse_r2,
)

__all__ = ["what_if_ablation", "retrain_ablation", "ABLATION_VERSION"]

ABLATION_VERSION = "1"
"""Version of the kept ablation results (:mod:`geoapp.analysis.result_cache`): bump it when they are computed otherwise."""


def what_if_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group, RMSE with the group masked and its change; per county, the change in prediction and error.

    Per county: the change in prediction and in absolute error (bu/acre) for every group.

    Masking replaces the group by its training mean. For the deep models that is 0 after
    standardisation: the mean of each month and band over the whole grid in the training years (a
    flat tile). For ridge it is the mean of the feature (a month's tile mean) over the training
    examples. A checkpoint retrained without a group (Figure 7) has no such group to mask: it is left
    out of both tables.

    Returns:
        (summary with columns group, rmse, delta_rmse, r2; per-county table with geoid, true,
        predicted, and ``<group>_change`` / ``<group>_abs_error_change`` columns).

    Computed once per (checkpoint, dataset, year) and kept on disk (:mod:`geoapp.analysis.result_cache`).
    """
    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    card = read_card(folder)
    year = dataset_year(ds, year)
    if ds.labelled(year).empty:
        raise InputError(f"no labelled counties in {year} in dataset {ds.name!r}: there is nothing to measure the ablation on")

    def compute() -> dict:
        if card.get("kind") == "ridge":
            summary, per_county = _ridge_ablation(folder, ds, year)
        else:
            summary, per_county = _deep_ablation(folder, ds, year)
        return {"summary": summary, "per_county": per_county}

    parts = cached("ablation", folder, ds, year, compute, version=ABLATION_VERSION)
    return parts["summary"], parts["per_county"]


def _deep_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    model, card = load_yield_model(folder, ds)
    norm = card["normalisation"]
    source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
    ex = source.examples([year])
    cpu = torch.device("cpu")
    base = predict_examples(model, source, ex, cpu)
    present = [g for g in FEATURE_GROUPS if any(b in source.bands for b in group_bands(g))]  # not a group it was trained without
    masked = {g: predict_examples(model, source, ex, cpu, mask_group=g) for g in present}
    return _tables(ds, ex.county, ex.target, base, masked, year)


def _ridge_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from geoapp.data.bands import BANDS
    from geoapp.training.ridge_trainer import load_ridge, ridge_features

    weights, card, _ = load_checkpoint(folder)
    verify_dataset(ds)
    check_card(card["dataset"], fingerprint=ds.fingerprint, tile_px=ds.tile_px)
    model = load_ridge(folder, weights, card)
    x, y, county, _ = ridge_features(ds, [year])
    if x.shape[1] != len(BANDS) * len(MONTHS) or x.shape[1] != model.coef.shape[0]:
        raise InputError(f"ridge checkpoint {str(folder)!r} does not take the features of dataset {ds.name!r}; train ridge on it")
    with torch.no_grad():
        base = model(torch.from_numpy(x)).numpy()
        masked = {}
        for group, bands in FEATURE_GROUPS.items():
            cols = [m * len(BANDS) + BANDS.index(b) for m in range(len(MONTHS)) for b in bands]
            xm = x.copy()
            xm[:, cols] = model.mean.numpy()[cols]  # the training mean
            masked[group] = model(torch.from_numpy(xm)).numpy()
    return _tables(ds, county, y, base, masked, year)


def _tables(ds: YieldDataset, county: np.ndarray, target: np.ndarray, base: np.ndarray, masked: dict[str, np.ndarray], year: int):
    base_rmse, base_r2 = rmse_r2(target, base)
    if not np.isfinite(base_rmse):
        raise InvalidResultError(
            f"predictions for {year} are not finite numbers (RMSE {base_rmse}): the checkpoint cannot be used; train it again"
        )
    rows = [{"group": "none (all inputs)", "rmse": base_rmse, "delta_rmse": 0.0, "r2": base_r2}]
    per_county = pd.DataFrame({"geoid": ds.counties["geoid"].to_numpy()[county], "year": year, "true": target, "predicted": base})
    for group, pred in masked.items():
        rmse, r2 = rmse_r2(target, pred)
        rows.append({"group": group, "rmse": rmse, "delta_rmse": rmse - base_rmse, "r2": r2})
        per_county[f"{group}_change"] = pred - base
        per_county[f"{group}_abs_error_change"] = np.abs(pred - target) - np.abs(base - target)
    return pd.DataFrame(rows), per_county


def retrain_ablation(folder: str | Path, ds: YieldDataset) -> pd.DataFrame | None:
    """The paper's Figure 7 for a checkpoint: test RMSE of the runs retrained without each group.

    Looks for crop-yield checkpoints on ``ds`` of the same model and test year whose training config
    excluded one feature group, and compares their test RMSE with this checkpoint's.

    Returns:
        None when this is not a deep model trained on all groups, or no such run exists; otherwise a
        table with columns group, rmse, delta_rmse, r2, checkpoint (the full model first, as
        ``none (all inputs)``).
    """
    from geoapp.analysis.yield_predictions import predictions_for_year, yield_checkpoints

    def test_scores(run: str | Path, ds: YieldDataset) -> dict:  # RMSE and R^2 on its test year, from the kept predictions
        return predictions_for_year(run, ds, int(read_card(run)["years"]["test"]))[1]

    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    card = read_card(folder)
    train_cfg = card.get("train_config") or {}
    if card.get("kind") != "crop-yield" or train_cfg.get("exclude_group"):
        return None
    test_year = card["years"]["test"]
    runs = {}
    for other, other_card in yield_checkpoints(ds):
        group = (other_card.get("train_config") or {}).get("exclude_group")
        if group and other_card.get("model") == card["model"] and other_card["years"]["test"] == test_year:
            runs.setdefault(group, other)
    if not runs:
        return None
    base = test_scores(folder, ds)
    rows = [{"group": "none (all inputs)", "rmse": base["rmse"], "delta_rmse": 0.0, "r2": base["r2"], "checkpoint": str(folder)}]
    for group in [g for g in FEATURE_GROUPS if g in runs]:
        result = test_scores(runs[group], ds)
        rows.append(
            {
                "group": group,
                "rmse": result["rmse"],
                "delta_rmse": result["rmse"] - base["rmse"],
                "r2": result["r2"],
                "checkpoint": str(runs[group]),
            }
        )
    return pd.DataFrame(rows)
