"""How hard is a dataset? Held-out-year R^2 of simple baselines beside the noise-free ceiling.

For each test year y (train on the N_y = 10 years y-11..y-2, as in the paper's nested validation, which
keeps y-1 for validation), on anchor-tile means of every band and month (63 features):

- ``ridge``: standardised ridge regression (the paper's LR baseline; alpha chosen on the validation year);
- ``gbm``: gradient-boosted trees on the same features (nonlinear, but blind to within-tile structure);
- ``ceiling``: R^2 of the simulation's noise-free yield (``expected``) against the labels, the best
  any model can do (simulated datasets only).

Deep models that read the tiles themselves should land between ``gbm`` and ``ceiling``.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from geoapp.data.dataset import YieldDataset
from geoapp.data.tiles import anchor_tile_means

__all__ = ["difficulty_report", "r2_score"]


def r2_score(y: np.ndarray, p: np.ndarray) -> float:
    """Coefficient of determination of predictions ``p`` for targets ``y`` (1 - SSE/SST)."""
    return float(1.0 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2))


def _labels(ds: YieldDataset, column: str) -> np.ndarray:
    table = ds.yields.pivot(index="year", columns="geoid", values=column)
    return table.reindex(index=ds.years, columns=ds.counties["geoid"]).to_numpy(dtype=float)


def difficulty_report(ds: YieldDataset, test_years: list[int] | None = None, n_train_years: int = 10, seed: int = 0) -> dict:
    """R^2 and RMSE (bu/acre) of the baselines per test year, and their means."""
    years = ds.years
    test_years = test_years or [y for y in years if y - n_train_years - 1 >= years[0]]
    feats = anchor_tile_means(ds).reshape(len(years), len(ds.counties), -1)
    y_obs = _labels(ds, "yield")
    y_exp = _labels(ds, "expected") if "expected" in ds.yields.columns else None
    rows = {}
    for test in test_years:
        ti, vi = years.index(test), years.index(test - 1)
        train = [years.index(y) for y in range(test - n_train_years - 1, test - 1)]
        x_tr, y_tr = feats[train].reshape(-1, feats.shape[-1]), y_obs[train].reshape(-1)
        keep = np.isfinite(y_tr) & np.isfinite(x_tr).all(axis=1)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
        mv, mt = np.isfinite(y_obs[vi]), np.isfinite(y_obs[ti])
        scaler = StandardScaler().fit(x_tr)
        best = None
        for alpha in (0.1, 1.0, 10.0, 100.0, 1000.0):
            m = Ridge(alpha=alpha).fit(scaler.transform(x_tr), y_tr)
            err = np.mean((m.predict(scaler.transform(feats[vi][mv])) - y_obs[vi][mv]) ** 2)
            if best is None or err < best[0]:
                best = (err, m)
        ridge = best[1].predict(scaler.transform(feats[ti][mt]))
        gbm = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=seed).fit(x_tr, y_tr)
        boosted = gbm.predict(feats[ti][mt])
        truth = y_obs[ti][mt]
        row = {
            "n_test": int(mt.sum()),
            "yield_sd": float(truth.std()),
            "ridge_r2": r2_score(truth, ridge),
            "ridge_rmse": float(np.sqrt(np.mean((ridge - truth) ** 2))),
            "gbm_r2": r2_score(truth, boosted),
            "gbm_rmse": float(np.sqrt(np.mean((boosted - truth) ** 2))),
        }
        if y_exp is not None:
            row["ceiling_r2"] = r2_score(truth, y_exp[ti][mt])
            row["floor_rmse"] = float(np.sqrt(np.mean((y_exp[ti][mt] - truth) ** 2)))
        rows[int(test)] = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
    keys = [k for k in next(iter(rows.values())) if k != "n_test"]
    mean = {k: round(float(np.mean([r[k] for r in rows.values()])), 3) for k in keys}
    return {"dataset": ds.title, "n_train_years": n_train_years, "per_year": rows, "mean": mean}
