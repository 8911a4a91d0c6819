"""How hard is a dataset? Held-out-year R^2 of simple baselines beside the noise-free ceiling.

For each test year y (train on the N_y = 10 years y-11..y-2, as in the paper's nested validation, which
keeps y-1 for validation), on anchor-tile means of every band and month (63 features):

- ``ridge``: standardised ridge regression (the paper's LR baseline; alpha chosen on the validation year);
- ``gbm``: gradient-boosted trees on the same features (nonlinear, but blind to within-tile structure);
- ``gbm_county`` (simulated datasets only): the same boosted trees on the **cropland-weighted county
  means** of every band and month, the average the simulation's county yield is made of
  (:func:`~geoapp.data.simulate.cropland_weights`): information a square tile without a crop mask
  (the paper's inputs) does not hold. How far it gets says how much of the gap to the ceiling is what
  the tiles cannot show rather than what a model fails to read;
- ``*_rmse_cal``: each boosted model's RMSE with a residual calibration (a trend and shrunk county
  offsets fitted to its training-year residuals, :mod:`geoapp.training.calibration`);
- ``ceiling``: R^2 of the simulation's noise-free yield (``expected``) against the labels, the best
  any model can do (simulated datasets only: for real data the noise floor is unknown, and each row
  says so).

Deep models that read the tiles themselves should land between ``gbm`` and ``ceiling``.

A dataset with fewer years (a real one often has a few) trains on the years it has before the
validation year (``n_train`` in each row); test years it cannot serve (not in the dataset, or without
a validation year and at least one training year before them) are skipped and listed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from geoapp.analysis.error_budget import simulation_config_of
from geoapp.data.bands import BAND_INFO, BANDS, MONTHS
from geoapp.data.cube_store import read_slab
from geoapp.data.dataset import YieldDataset
from geoapp.data.tiles import anchor_tile_means
from geoapp.errors import InputError
from geoapp.training.calibration import fit_to_residuals, shift

__all__ = ["difficulty_report", "r2_score", "county_means", "UNKNOWN_FLOOR"]


def r2_score(y: np.ndarray, p: np.ndarray) -> float:
    """Coefficient of determination of predictions ``p`` for targets ``y`` (1 - SSE/SST)."""
    return float(1.0 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2))


def _labels(ds: YieldDataset, column: str) -> np.ndarray:
    table = ds.yields.pivot(index="year", columns="geoid", values=column)
    return table.reindex(index=ds.years, columns=ds.counties["geoid"]).to_numpy(dtype=float)


def county_means(ds: YieldDataset) -> np.ndarray | None:
    """Cropland-weighted county means of every band and month of a simulated dataset, or None for real data.

    Returns:
        float32 (years, counties, months, bands) in the order of ``ds.years``, ``ds.counties`` rows,
        :data:`MONTHS` and :data:`BANDS`; NaN pixels skipped; NaN for a county without cropland pixels.
    """
    config = simulation_config_of(ds)
    if config is None:
        return None
    from geoapp.data.simulate import cropland_weights

    index, crop, geoids = cropland_weights(config)
    where = {g: i for i, g in enumerate(geoids)}
    rows = np.array([where.get(str(g), -1) for g in ds.counties["geoid"]])
    inside = index >= 0
    n = len(geoids)

    def weighted(values: np.ndarray) -> np.ndarray:
        """(H, W) -> (counties of ds,) cropland-weighted means inside each county."""
        ok = inside & np.isfinite(values)
        total = np.bincount(index[ok], weights=(values * crop)[ok], minlength=n)
        weight = np.bincount(index[ok], weights=crop[ok], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = total / weight
        return np.where(rows >= 0, means[np.maximum(rows, 0)], np.nan)

    out = np.full((len(ds.years), len(ds.counties), len(MONTHS), len(BANDS)), np.nan, dtype=np.float32)
    for j, band in enumerate(BANDS):
        da = ds.cube[band]
        if BAND_INFO[band].static:
            out[..., j] = weighted(read_slab(da).astype(np.float64))[None, :, None]
            continue
        for k in range(len(ds.years)):
            slab = read_slab(da, year=k).astype(np.float64)  # (months, H, W)
            out[k, :, :, j] = np.stack([weighted(slab[m]) for m in range(len(MONTHS))], axis=1)
    return out


def _calibrated_rmse(
    ds: YieldDataset,
    fitted: np.ndarray,
    y_tr: np.ndarray,
    county: np.ndarray,
    year: np.ndarray,
    pred: np.ndarray,
    truth: np.ndarray,
    test_county: np.ndarray,
    test_year: int,
) -> float:
    """RMSE of ``pred`` with a county-trend calibration fitted to the training residuals ``y_tr - fitted``."""
    geoids = ds.counties["geoid"].astype(str).to_numpy()
    cal = fit_to_residuals("county-trend", pd.DataFrame({"geoid": geoids[county], "year": year, "residual": y_tr - fitted}))
    shifted = pred + shift(cal, ds, test_county, test_year)
    return float(np.sqrt(np.mean((shifted - truth) ** 2)))


UNKNOWN_FLOOR = "unknown (real data)"
"""What the report says of the noise floor and ceiling of a dataset without a noise-free yield."""


def _splits(years: list[int], test_years: list[int] | None, n_train_years: int) -> tuple[dict[int, list[int]], list[int]]:
    """Training years per servable test year, and the requested test years that cannot be served."""
    wanted = test_years or [y for y in years if y - n_train_years - 1 >= years[0]] or years[-1:]
    splits, skipped = {}, []
    for test in wanted:
        train = [y for y in range(test - n_train_years - 1, test - 1) if y in years]
        if test in years and test - 1 in years and train:
            splits[int(test)] = train
        else:
            skipped.append(int(test))
    return splits, skipped


def difficulty_report(ds: YieldDataset, test_years: list[int] | None = None, n_train_years: int = 10, seed: int = 0) -> dict:
    """R^2 and RMSE (bu/acre) of the baselines per test year, and their means.

    Raises:
        InputError: no requested test year has a validation year and a training year before it in ``ds``.
    """
    years = ds.years
    splits, skipped = _splits(years, test_years, n_train_years)
    if not splits:
        raise InputError(
            f"no test year of {test_years or 'the default'} can be scored on {ds.title!r} (years {years[0]}-{years[-1]}): "
            "a test year needs the year before it (validation) and at least one training year before that; "
            f"pick test years from {years[2:] or 'a dataset with at least three years'}"
        )
    feats = anchor_tile_means(ds).reshape(len(years), len(ds.counties), -1)
    county_feats = county_means(ds)
    if county_feats is not None:
        county_feats = county_feats.reshape(len(years), len(ds.counties), -1)
    rows_of = np.broadcast_to(np.arange(len(ds.counties)), (len(years), len(ds.counties)))
    year_of = np.broadcast_to(np.asarray(years)[:, None], (len(years), len(ds.counties)))
    y_obs = _labels(ds, "yield")
    y_exp = _labels(ds, "expected") if "expected" in ds.yields.columns else None
    rows = {}
    for test, train_years in splits.items():
        ti, vi = years.index(test), years.index(test - 1)
        train = [years.index(y) for y in train_years]
        x_tr, y_tr = feats[train].reshape(-1, feats.shape[-1]), y_obs[train].reshape(-1)
        keep = np.isfinite(y_tr)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
        c_tr, t_tr = rows_of[train].reshape(-1)[keep], year_of[train].reshape(-1)[keep]
        mv, mt = np.isfinite(y_obs[vi]), np.isfinite(y_obs[ti])
        if len(y_tr) < 2 or not mv.any() or mt.sum() < 2:
            skipped.append(test)  # too few labelled counties
            continue
        # gaps in the inputs (real data) take the training mean; a feature with no training value is dropped
        imputer = SimpleImputer(strategy="mean").fit(x_tr)
        x_tr, x_va, x_te = imputer.transform(x_tr), imputer.transform(feats[vi][mv]), imputer.transform(feats[ti][mt])
        scaler = StandardScaler().fit(x_tr)
        best = None
        for alpha in (0.1, 1.0, 10.0, 100.0, 1000.0):
            m = Ridge(alpha=alpha).fit(scaler.transform(x_tr), y_tr)
            err = np.mean((m.predict(scaler.transform(x_va)) - y_obs[vi][mv]) ** 2)
            if best is None or err < best[0]:
                best = (err, m)
        ridge = best[1].predict(scaler.transform(x_te))
        gbm = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=seed).fit(x_tr, y_tr)
        boosted = gbm.predict(x_te)
        truth = y_obs[ti][mt]
        c_te = np.flatnonzero(mt)
        gbm_cal = _calibrated_rmse(ds, gbm.predict(x_tr), y_tr, c_tr, t_tr, boosted, truth, c_te, test)
        row = {
            "n_test": int(mt.sum()),
            "n_train": len(train_years),
            "yield_sd": float(truth.std()),
            "ridge_r2": r2_score(truth, ridge),
            "ridge_rmse": float(np.sqrt(np.mean((ridge - truth) ** 2))),
            "gbm_r2": r2_score(truth, boosted),
            "gbm_rmse": float(np.sqrt(np.mean((boosted - truth) ** 2))),
            "gbm_rmse_cal": gbm_cal,
        }
        if county_feats is not None:  # the same trees on what the county yield is averaged from
            xc_tr = county_feats[train].reshape(-1, county_feats.shape[-1])[keep]
            county_gbm = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=seed).fit(xc_tr, y_tr)
            p = county_gbm.predict(county_feats[ti][mt])
            row["gbm_county_r2"] = r2_score(truth, p)
            row["gbm_county_rmse"] = float(np.sqrt(np.mean((p - truth) ** 2)))
            row["gbm_county_rmse_cal"] = _calibrated_rmse(ds, county_gbm.predict(xc_tr), y_tr, c_tr, t_tr, p, truth, c_te, test)
        if y_exp is not None:
            row["ceiling_r2"] = r2_score(truth, y_exp[ti][mt])
            row["floor_rmse"] = float(np.sqrt(np.mean((y_exp[ti][mt] - truth) ** 2)))
        else:
            row["noise_floor"] = UNKNOWN_FLOOR
        rows[int(test)] = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
    if not rows:
        raise InputError(
            f"too few labelled counties in the test years {sorted(skipped)} of {ds.title!r} (or in the years before "
            "them) to fit a baseline; check the yields (python -m geoapp data info --path DIR)"
        )
    first = next(iter(rows.values()))
    mean: dict[str, object] = {
        k: round(float(np.mean([r[k] for r in rows.values()])), 3) for k, v in first.items() if isinstance(v, float)
    }
    if y_exp is None:
        mean["noise_floor"] = UNKNOWN_FLOOR
    report = {"dataset": ds.title, "n_train_years": n_train_years, "per_year": rows, "mean": mean}
    if skipped:
        report["skipped_test_years"] = sorted(skipped)
    if y_exp is None:
        report["noise_floor"] = UNKNOWN_FLOOR
    return report
