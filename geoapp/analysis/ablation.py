"""What-if feature ablation at inference: mask one feature group (replace it by the training mean)
and measure how predictions and their error change, for every county of a year.

Groups are the paper's (Section IV-G): VI = ndvi + evi, LST = lst_day + lst_night, PPT, SOIL =
sand + silt + clay, ELE = elevation. Unlike the paper's Figure 7 (retrain without the group), this
needs no retraining: it asks what the trained model relies on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from geoapp.data.bands import FEATURE_GROUPS, MONTHS
from geoapp.data.dataset import YieldDataset
from geoapp.training.checkpoint import load_checkpoint, read_card
from geoapp.training.yield_data import YieldTileSource
from geoapp.training.yield_trainer import load_yield_model, predict_examples, rmse_r2

__all__ = ["what_if_ablation"]


def what_if_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group: RMSE with the group masked and the change from the full model; per county: the
    change in prediction and in absolute error (bu/acre) for every group.

    Returns:
        (summary with columns group, rmse, delta_rmse, r2; per-county table with geoid, true,
        predicted, and ``<group>_change`` / ``<group>_abs_error_change`` columns).
    """
    card = read_card(folder)
    if card.get("kind") == "ridge":
        return _ridge_ablation(folder, ds, year)
    model, card = load_yield_model(folder, ds)
    norm = card["normalisation"]
    source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
    ex = source.examples([year])
    cpu = torch.device("cpu")
    base = predict_examples(model, source, ex, cpu)
    masked = {g: predict_examples(model, source, ex, cpu, mask_group=g) for g in FEATURE_GROUPS}
    return _tables(ds, ex.county, ex.target, base, masked, year)


def _ridge_ablation(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from geoapp.data.bands import BANDS
    from geoapp.models.ridge import RidgeRegression
    from geoapp.training.ridge_trainer import ridge_features

    weights, card, _ = load_checkpoint(folder)
    model = RidgeRegression(int(card["n_features"]))
    model.load_state_dict(weights)
    x, y, county, _ = ridge_features(ds, [year])
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
    rows = [{"group": "none (all inputs)", "rmse": base_rmse, "delta_rmse": 0.0, "r2": base_r2}]
    per_county = pd.DataFrame({"geoid": ds.counties["geoid"].to_numpy()[county], "year": year, "true": target, "predicted": base})
    for group, pred in masked.items():
        rmse, r2 = rmse_r2(target, pred)
        rows.append({"group": group, "rmse": rmse, "delta_rmse": rmse - base_rmse, "r2": r2})
        per_county[f"{group}_change"] = pred - base
        per_county[f"{group}_abs_error_change"] = np.abs(pred - target) - np.abs(base - target)
    return pd.DataFrame(rows), per_county
