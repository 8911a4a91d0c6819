"""Predicted vs true county yields of a checkpoint for one year, and which checkpoints fit a dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geoapp.data.dataset import YieldDataset
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import list_checkpoints
from geoapp.training.yield_trainer import evaluate_yield

__all__ = ["yield_checkpoints", "predictions_for_year", "compare_on_year"]


def yield_checkpoints(ds: YieldDataset, root: str | Path | None = None) -> list[tuple[Path, dict]]:
    """Crop-yield checkpoints (deep models and ridge) trained on this dataset (same data fingerprint)."""
    found = list_checkpoints(root or checkpoint_dir())
    return [
        (folder, card)
        for folder, card in found
        if card.get("kind") in ("crop-yield", "ridge") and (card.get("dataset") or {}).get("fingerprint") == ds.fingerprint
    ]


def predictions_for_year(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, dict]:
    """Per-county predictions of the labelled counties of ``year`` and a summary.

    The table has geoid, true, predicted, error = predicted - true (bu/acre); the summary RMSE, R^2,
    n, and the role of ``year`` for this checkpoint (``test``, ``validation`` or ``training``: only
    the test year is an honest score).
    """
    result = evaluate_yield(folder, ds, year)
    table = result["table"].copy()
    table["error"] = table["predicted"] - table["true"]
    summary = {
        "model": result["model"],
        "year": year,
        "rmse": result["rmse"],
        "r2": result["r2"],
        "n": result["n"],
        "role": _role(folder, year),
    }
    return table, summary


def compare_on_year(ds: YieldDataset, year: int, root: str | Path | None = None) -> pd.DataFrame:
    """Every checkpoint of ``ds`` whose test year is ``year``, scored on that year's labelled counties.

    Returns a DataFrame sorted by RMSE, one row per checkpoint: ``checkpoint`` (folder), ``model``,
    ``rmse`` and ``bias`` (mean of predicted - true) in bu/acre, ``r2``, ``n`` (counties) and ``seed``
    (None for ridge). Empty (same columns) when no checkpoint was tested on ``year``. Only the test
    year is an honest score, so training- and validation-year checkpoints are left out.
    """
    rows = []
    for folder, card in yield_checkpoints(ds, root):
        if int(card["years"]["test"]) != int(year):
            continue
        table, summary = predictions_for_year(folder, ds, year)
        rows.append(
            {
                "checkpoint": str(folder),
                "model": summary["model"],
                "rmse": summary["rmse"],
                "r2": summary["r2"],
                "bias": float(table["error"].mean()),
                "n": summary["n"],
                "seed": (card.get("train_config") or {}).get("seed"),
            }
        )
    columns = ["checkpoint", "model", "rmse", "r2", "bias", "n", "seed"]
    return pd.DataFrame(rows, columns=columns).sort_values("rmse", kind="stable").reset_index(drop=True)


def _role(folder: str | Path, year: int) -> str:
    from geoapp.training.checkpoint import read_card

    years = read_card(folder)["years"]
    if int(year) == int(years["test"]):
        return "test"
    if int(year) == int(years["validation"]):
        return "validation"
    return "training" if int(year) in years["train"] else "unused"
