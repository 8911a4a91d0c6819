"""Seed ensembles of the experiment runs: how much the mean of several seeds' predictions gains.

``python -m geoapp bench ensemble --model s-ha [--overrides '{"augment": "dihedral"}'] [--seeds 0,1,2]``

For each test year, the runs of one model, N_y and training overrides with each of the seeds (found in
the dataset's results store, :mod:`geoapp.experiments.store`) are loaded and scored on the test year's
labelled counties, alone and as an :class:`~geoapp.training.ensemble.EnsemblePredictor` (the mean of
their predictions). Each is also scored with the ``county-trend`` residual calibration fitted on its
own training-year residuals (for the ensemble: the ensemble's residuals); nothing is fitted on the
validation or test year. On a simulated dataset each row also gives 1.3 x the year's noise floor.
RMSE in bu/acre.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoapp.data.args import given
from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError
from geoapp.experiments.plan import PAPER_YEARS
from geoapp.experiments.report import noise_floor_by_year
from geoapp.experiments.store import OK, ResultStore, latest_results
from geoapp.paths import REPO_ROOT
from geoapp.training.calibration import fit_calibration, shift
from geoapp.training.ensemble import EnsemblePredictor
from geoapp.training.metrics import rmse_r2
from geoapp.training.model_kinds import load_yield_checkpoint

__all__ = ["run_checkpoints", "seed_ensemble_table", "ensemble_markdown"]


def run_checkpoints(
    records: Sequence[Mapping[str, Any]],
    model: str,
    test_year: int,
    seeds: Sequence[int],
    overrides: Mapping[str, Any],
    n_train_years: int = 10,
) -> dict[int, Path]:
    """Per seed, the ``best/`` folder of the finished run (all inputs) with these settings.

    Seeds without such a run, or whose folder is not on this machine (the store is shared through git,
    the run folders are not), are left out.
    """
    want = json.dumps(dict(overrides), sort_keys=True)
    out: dict[int, Path] = {}
    for record in latest_results(records).values():
        key = record["key"]
        if (
            record["status"] == OK
            and key["model"] == model
            and int(key["test_year"]) == int(test_year)
            and int(key["n_train_years"]) == int(n_train_years)
            and key["exclude_group"] is None
            and int(key["seed"]) in seeds
            and json.dumps(key["overrides"], sort_keys=True) == want
            and record.get("checkpoint")
        ):
            path = Path(record["checkpoint"])
            path = path if path.is_absolute() else REPO_ROOT / path
            if (path / "card.json").is_file():  # run folders are not in git: a fresh clone has the records only
                out[int(key["seed"])] = path
    return out


def _scores(predictor: Any, ds: YieldDataset, test_year: int) -> tuple[float, float]:
    """(own RMSE, RMSE with a county-trend calibration fitted on the training years) on ``test_year``."""
    out = predictor.predict(ds, test_year)
    own, _ = rmse_r2(out.target, out.predicted)
    cal = fit_calibration("county-trend", predictor, ds, predictor.card["years"]["train"])
    calibrated, _ = rmse_r2(out.target, out.predicted + shift(cal, ds, out.county, test_year))
    return own, calibrated


def seed_ensemble_table(
    ds: YieldDataset,
    model: str,
    seeds: Sequence[int] = (0, 1, 2),
    years: Sequence[int] = PAPER_YEARS,
    overrides: Mapping[str, Any] | None = None,
    n_train_years: int = 10,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Per test year: the members' mean RMSE and the ensemble's, own and calibrated; a ``mean`` row over complete years.

    Columns: year, members (seeds found), members_rmse, ensemble_rmse, members_cal, ensemble_cal (bu/acre;
    NaN for a year that lacks a seed's run), floor_x1_3 (1.3 x the noise floor; NaN for real data).

    Raises:
        InputError: fewer than two seeds, or arguments of the wrong type.
    """
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) < 2:
        raise InputError(f"a seed ensemble needs at least two different seeds, got {seeds}")
    if overrides is not None and not isinstance(overrides, Mapping):
        raise InputError(f"overrides must be a mapping of training settings, got {given(overrides)}")
    records = list(records) if records is not None else ResultStore.for_dataset(ds).read()
    floors = noise_floor_by_year(ds)
    rows = []
    for year in years:
        found = run_checkpoints(records, model, year, seeds, overrides or {}, n_train_years)
        row: dict[str, Any] = {"year": int(year), "members": sorted(found), "floor_x1_3": 1.3 * floors.get(str(year), np.nan)}
        if len(found) < len(set(seeds)):
            rows.append({**row, **dict.fromkeys(("members_rmse", "ensemble_rmse", "members_cal", "ensemble_cal"), np.nan)})
            continue
        members = [load_yield_checkpoint(found[s], ds, calibrated=False) for s in sorted(found)]
        single = np.array([_scores(m, ds, year) for m in members])
        ens_own, ens_cal = _scores(EnsemblePredictor(members), ds, year)
        rows.append(
            {
                **row,
                "members_rmse": float(single[:, 0].mean()),
                "ensemble_rmse": ens_own,
                "members_cal": float(single[:, 1].mean()),
                "ensemble_cal": ens_cal,
            }
        )
    table = pd.DataFrame(rows)
    done = table.dropna(subset=["ensemble_rmse"])
    if len(done):
        mean = {"year": "mean", "members": sorted(set(seeds))}
        mean |= {c: float(done[c].mean()) for c in ("members_rmse", "ensemble_rmse", "members_cal", "ensemble_cal", "floor_x1_3")}
        table = pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
    return table


def ensemble_markdown(table: pd.DataFrame, title: str) -> str:
    """The table as markdown under ``title`` (a year without every seed reads "missing")."""

    def cell(v: Any) -> str:
        return "missing" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"

    lines = [
        f"{title}\n",
        "| test year | seeds | members, mean RMSE | ensemble RMSE | members + county + trend | ensemble + county + trend "
        "| 1.3 x noise floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        seeds = ", ".join(map(str, r["members"]))
        cells = [cell(r[c]) for c in ("members_rmse", "ensemble_rmse", "members_cal", "ensemble_cal", "floor_x1_3")]
        lines.append(f"| {r['year']} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
