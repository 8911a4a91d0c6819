"""Predicted vs true county yields of a checkpoint for one year, and which checkpoints fit a dataset.

A year the dataset does not hold, or one without labelled counties, is an
:class:`~geoapp.errors.InputError` naming the year ("no labelled counties in 1990 ..."); scores that
are not finite are refused (:func:`geoapp.training.results.check_scores`). Pages show these errors
as they are.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geoapp.analysis.result_cache import cached
from geoapp.data.args import as_optional_path
from geoapp.data.dataset import YieldDataset
from geoapp.errors import GeoappError, InputError
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import list_checkpoints
from geoapp.training.model_kinds import YIELD_CARD_KINDS
from geoapp.training.yield_data import dataset_year
from geoapp.training.yield_trainer import check_checkpoint_arg, check_dataset_arg, evaluate_yield

__all__ = ["yield_checkpoints", "predictions_for_year", "compare_on_year", "year_role", "PREDICTIONS_VERSION"]

PREDICTIONS_VERSION = "1"
"""Version of the kept predictions (:mod:`geoapp.analysis.result_cache`): bump it when they are computed otherwise."""


def yield_checkpoints(ds: YieldDataset, root: str | Path | None = None) -> list[tuple[Path, dict]]:
    """Crop-yield checkpoints of every model kind trained on this dataset (same data fingerprint)."""
    check_dataset_arg(ds)
    found = list_checkpoints(as_optional_path(root, "root") or checkpoint_dir())
    return [
        (folder, card)
        for folder, card in found
        if card.get("kind") in YIELD_CARD_KINDS and (card.get("dataset") or {}).get("fingerprint") == ds.fingerprint
    ]


def predictions_for_year(folder: str | Path, ds: YieldDataset, year: int) -> tuple[pd.DataFrame, dict]:
    """Per-county predictions of the labelled counties of ``year`` and a summary.

    The table has geoid, true, predicted, error = predicted - true (bu/acre); the summary RMSE, R^2,
    n, and the role of ``year`` for this checkpoint (``test``, ``validation`` or ``training``: only
    the test year is an honest score).

    Computed once per (checkpoint, dataset, year) and kept on disk (:mod:`geoapp.analysis.result_cache`):
    a later call, in this process or another, reads it unless the checkpoint or the dataset changed.
    """
    check_checkpoint_arg(folder)
    check_dataset_arg(ds)
    year = dataset_year(ds, year)

    def compute() -> dict:
        result = evaluate_yield(folder, ds, year)
        table = result["table"].copy()
        table["error"] = table["predicted"] - table["true"]
        summary = {
            "model": result["model"],
            "year": year,
            "rmse": float(result["rmse"]),
            "r2": float(result["r2"]),
            "n": int(result["n"]),
            "role": year_role(folder, year),
        }
        return {"table": table, "summary": summary}

    parts = cached("predictions", folder, ds, year, compute, version=PREDICTIONS_VERSION)
    return parts["table"], dict(parts["summary"])


def compare_on_year(ds: YieldDataset, year: int, root: str | Path | None = None) -> pd.DataFrame:
    """Every checkpoint of ``ds`` whose test year is ``year``, scored on that year's labelled counties.

    Returns a DataFrame sorted by RMSE, one row per checkpoint: ``checkpoint`` (folder), ``model``,
    ``rmse`` and ``bias`` (mean of predicted - true) in bu/acre, ``r2``, ``n`` (counties) and ``seed``
    (None for ridge). Empty (same columns) when no checkpoint was tested on ``year``. Only the test
    year is an honest score, so training- and validation-year checkpoints are left out.

    A checkpoint that cannot be scored (a broken card or weights) is left out of the rows and listed
    in ``result.attrs["broken"]`` as ``{"checkpoint", "error"}`` dicts, so one bad checkpoint does not
    hide the others.

    Raises:
        InputError: ``year`` is not in the dataset or has no labelled counties.
    """
    check_dataset_arg(ds)
    root = as_optional_path(root, "root")
    year = dataset_year(ds, year)
    if ds.labelled(year).empty:
        raise InputError(f"no labelled counties in {year} in dataset {ds.name!r}: there is nothing to compare the models on")
    rows, broken = [], []
    for folder, card in yield_checkpoints(ds, root):
        if int(card["years"]["test"]) != int(year):
            continue
        try:
            table, summary = predictions_for_year(folder, ds, year)
        except GeoappError as exc:
            broken.append({"checkpoint": str(folder), "error": str(exc)})
            continue
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
    result = pd.DataFrame(rows, columns=columns).sort_values("rmse", kind="stable").reset_index(drop=True)
    result.attrs["broken"] = broken
    return result


def year_role(folder: str | Path, year: int) -> str:
    """What ``year`` was to the checkpoint ``folder``: ``test``, ``validation``, ``training`` or ``unused``."""
    from geoapp.training.checkpoint import read_card

    check_checkpoint_arg(folder)

    years = read_card(folder)["years"]
    if int(year) == int(years["test"]):
        return "test"
    if int(year) == int(years["validation"]):
        return "validation"
    return "training" if int(year) in years["train"] else "unused"
