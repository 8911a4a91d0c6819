"""Fitting the ``ridge`` floor baseline with the same nested years and checkpoint format as the deep models."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from geoapp.data.dataset import YieldDataset
from geoapp.data.tiles import anchor_tile_means
from geoapp.models.ridge import RidgeRegression, fit_ridge
from geoapp.training.checkpoint import check_card, load_checkpoint, save_checkpoint
from geoapp.training.metrics_log import MetricsLog

__all__ = ["ridge_features", "train_ridge", "evaluate_ridge"]


def ridge_features(ds: YieldDataset, years: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features (N, T*C) of the labelled examples of ``years``, their yields, county rows and years."""
    means = anchor_tile_means(ds)  # (Y, counties, T, C)
    lab = ds.labelled()
    lab = lab[lab["year"].isin(years)]
    row_of = {g: i for i, g in enumerate(ds.counties["geoid"])}
    county = lab["geoid"].map(row_of).to_numpy(dtype=np.int64)
    year = lab["year"].to_numpy(dtype=np.int64)
    x = means[[ds.years.index(int(y)) for y in year], county].reshape(len(lab), -1).astype(np.float64)
    x = np.where(np.isfinite(x), x, np.nanmean(x, axis=0))  # a missing tile mean takes the column mean
    return x, lab["yield"].to_numpy(dtype=np.float64), county, year


def train_ridge(ds: YieldDataset, train_years: list[int], val_year: int, test_year: int, out_dir: str | Path) -> Path:
    """Fit ridge (alpha chosen on ``val_year``); save ``out_dir/best`` with the same card layout as the deep models."""
    from geoapp.training.yield_trainer import rmse_r2

    t0 = time.perf_counter()
    x_tr, y_tr, _, _ = ridge_features(ds, train_years)
    x_va, y_va, _, _ = ridge_features(ds, [val_year])
    x_te, y_te, _, _ = ridge_features(ds, [test_year])
    model, alpha = fit_ridge(x_tr, y_tr, x_va, y_va)
    with torch.no_grad():
        val_rmse, val_r2 = rmse_r2(y_va, model(torch.from_numpy(x_va)).numpy())
        test_rmse, test_r2 = rmse_r2(y_te, model(torch.from_numpy(x_te)).numpy())
    seconds = time.perf_counter() - t0
    record = MetricsLog(Path(out_dir) / "metrics.jsonl").write(
        epoch=1, seconds=seconds, samples_per_s=len(y_tr) / seconds, val_rmse=val_rmse, val_r2=val_r2, alpha=alpha
    )
    card = {
        "model": "ridge",
        "kind": "ridge",
        "n_features": int(x_tr.shape[1]),
        "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": ds.simulated, "tile_px": ds.tile_px},
        "years": {"train": list(train_years), "validation": val_year, "test": test_year},
        "epoch": 1,
        "metrics": {**record, "test_rmse": test_rmse, "test_r2": test_r2},
    }
    return save_checkpoint(Path(out_dir) / "best", model, card)


def evaluate_ridge(folder: str | Path, ds: YieldDataset, year: int | None = None) -> dict:
    """RMSE, R^2 and the per-county table of a ridge checkpoint (as ``evaluate_yield``)."""
    from geoapp.training.yield_trainer import rmse_r2

    weights, card, _ = load_checkpoint(folder)
    check_card(card["dataset"], fingerprint=ds.fingerprint, tile_px=ds.tile_px)
    model = RidgeRegression(int(card["n_features"]))
    model.load_state_dict(weights)
    year = int(year if year is not None else card["years"]["test"])
    x, y, county, _ = ridge_features(ds, [year])
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).numpy()
    rmse, r2 = rmse_r2(y, pred)
    table = pd.DataFrame({"geoid": ds.counties["geoid"].to_numpy()[county], "year": year, "true": y, "predicted": pred})
    return {"model": "ridge", "year": year, "n": int(len(y)), "rmse": rmse, "r2": r2, "table": table}
