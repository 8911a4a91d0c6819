"""Residual calibration: a trend and county offsets fitted to a trained model's training-year residuals.

A model that reads weather, vegetation and soil cannot see two things a county's yield carries:

- the **year** (technology and management raise yields year after year: a trend), so it predicts a
  later test year as if it were in the middle of its training years;
- the **county** (a persistent management effect, farm sizes, reporting): the simulation adds one of
  sd ~2.5 bu/acre per county (:mod:`geoapp.data.simulate`), and real county yields have one too.

A yield model in practice adds both as terms fitted on the years it trains on. Here they are fitted
after training, to the model's own residuals ``r = true - predicted`` on its training years (never
the validation or test year), as a linear mixed model with a random county intercept:

    r[c, t] = a + b * (t - t0) + u[c] + e[c, t],   u[c] ~ N(0, s_u^2),   e[c, t] ~ N(0, s_e^2)

The trend ``a + b (t - t0)`` is the least-squares line through every residual (t0 the mean training
year). The county offsets are the best linear unbiased predictors of ``u``: each county's mean
detrended residual shrunk towards 0 by its number of years ``n_c``,

    u[c] = n_c / (n_c + lambda) * mean_t(r[c, t] - a - b (t - t0)),   lambda = s_e^2 / s_u^2,

with the variance components estimated by the method of moments (s_e^2 the pooled within-county
variance, s_u^2 the between-county variance of the means less s_e^2 mean(1 / n_c), floored at 0:
no county effect, no offsets). A county without training labels gets no offset.

The calibrated prediction of county c in year t is ``predicted + a + b (t - t0) + u[c]`` (bu/acre).
Two options (:data:`CALIBRATIONS`): ``trend`` (the line only) and ``county-trend`` (the line and the
offsets). The fit, with the validation year's RMSE before and after, is kept in the checkpoint card
(``calibration``) and applied by every prediction of the checkpoint (:class:`CalibratedPredictor`,
the what-if ablation through :func:`shift`).

Caveat: a flexible model fits its training years more closely than new ones, so its training
residuals understate what it misses; the offsets are then smaller than they could be (conservative).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, InputError
from geoapp.training.metrics import rmse_r2
from geoapp.training.shifted_predictor import ShiftedPredictor

__all__ = [
    "CALIBRATIONS",
    "Calibration",
    "fit_calibration",
    "fit_to_residuals",
    "residuals_of",
    "calibrate_predictor",
    "from_card",
    "shift",
    "CalibratedPredictor",
]

CALIBRATIONS: tuple[str, ...] = ("none", "trend", "county-trend")
"""``none`` (the paper's: predictions as the model makes them), ``trend`` (a line fitted to the training-year
residuals), ``county-trend`` (the line and shrunk county offsets)."""


@dataclass(frozen=True)
class Calibration:
    """A fitted residual calibration (see the module docstring), all in bu/acre.

    Attributes:
        kind: ``trend`` or ``county-trend``.
        slope: b, bu/acre per year.
        intercept: a, bu/acre at ``reference_year``.
        reference_year: t0, the mean training year of the residuals.
        fitted_years: the years whose residuals were fitted (the training years).
        county_sd: s_u, the estimated sd of the county effect (0: none found).
        residual_sd: s_e, the estimated sd of what is left.
        shrinkage_years: lambda = s_e^2 / s_u^2 (inf when s_u = 0).
        offsets: geoid -> u[c] (empty for ``trend``).
        validation: the validation year and its RMSE before and after (empty when not measured).
    """

    kind: str
    slope: float
    intercept: float
    reference_year: float
    fitted_years: tuple[int, ...]
    county_sd: float = 0.0
    residual_sd: float = 0.0
    shrinkage_years: float = math.inf
    offsets: dict[str, float] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)

    def trend_at(self, years: Sequence[int] | np.ndarray | int) -> np.ndarray:
        """A + b (t - t0) at each of ``years`` (float64, the shape of ``years``)."""
        return self.intercept + self.slope * (np.asarray(years, dtype=np.float64) - self.reference_year)

    def offsets_of(self, geoids: Sequence[str] | np.ndarray) -> np.ndarray:
        """u[c] of each geoid (0 for a county without one), float64 of the same length."""
        return np.array([self.offsets.get(str(g), 0.0) for g in geoids], dtype=np.float64)

    def to_card(self) -> dict[str, Any]:
        """The card's ``calibration`` entry (JSON: an infinite lambda is written as null)."""
        return {
            "kind": self.kind,
            "slope_bu_per_year": self.slope,
            "intercept_bu": self.intercept,
            "reference_year": self.reference_year,
            "fitted_years": list(self.fitted_years),
            "county_sd_bu": self.county_sd,
            "residual_sd_bu": self.residual_sd,
            "shrinkage_years": None if math.isinf(self.shrinkage_years) else self.shrinkage_years,
            "offsets_bu": {g: round(v, 4) for g, v in sorted(self.offsets.items())},
            "validation": dict(self.validation),
        }


def fit_to_residuals(kind: str, residuals: pd.DataFrame) -> Calibration:
    """Fit the calibration of ``kind`` to a table of residuals (the mixed model of the module docstring).

    Args:
        kind: ``trend`` or ``county-trend``.
        residuals: one row per labelled county-year: ``geoid`` (str), ``year`` (int) and ``residual``
            (true - predicted, bu/acre, finite).

    Raises:
        InputError: an unknown kind, missing columns, non-finite residuals, or fewer than two distinct
            years (a line needs two).
    """
    if kind not in CALIBRATIONS or kind == "none":
        raise InputError(f"calibration kind must be one of {[k for k in CALIBRATIONS if k != 'none']}, got {kind!r}")
    if not isinstance(residuals, pd.DataFrame) or not {"geoid", "year", "residual"} <= set(residuals.columns):
        raise InputError("residuals must be a DataFrame with columns geoid, year and residual (bu/acre)")
    r = residuals["residual"].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise InputError("residuals must be finite; a prediction or a label is NaN or infinite")
    years = sorted({int(y) for y in residuals["year"]})
    if len(years) < 2:
        raise InputError(f"a calibration trend needs residuals in at least two years, got years {years}")
    t = residuals["year"].to_numpy(dtype=np.float64)
    t0 = float(t.mean())
    slope, intercept = np.polyfit(t - t0, r, 1)
    d = r - (intercept + slope * (t - t0))
    base = Calibration(kind, float(slope), float(intercept), t0, tuple(years), residual_sd=float(np.std(d)))
    if kind == "trend":
        return base
    groups = pd.DataFrame({"geoid": residuals["geoid"].astype(str).to_numpy(), "d": d}).groupby("geoid")["d"]
    n, mean = groups.count(), groups.mean()
    within = float(((d - groups.transform("mean").to_numpy()) ** 2).sum())
    dof = len(d) - len(n)
    if dof <= 0 or len(n) < 2:  # one row per county, or one county: the components cannot be told apart
        return base
    s_e2 = within / dof
    s_u2 = max(0.0, float(mean.var(ddof=1)) - s_e2 * float((1.0 / n).mean()))
    if s_u2 <= 0.0:
        return dataclasses.replace(base, residual_sd=math.sqrt(s_e2))
    lam = s_e2 / s_u2
    offsets = (n / (n + lam) * mean).astype(float)
    return dataclasses.replace(
        base,
        county_sd=math.sqrt(s_u2),
        residual_sd=math.sqrt(s_e2),
        shrinkage_years=float(lam),
        offsets={str(g): float(v) for g, v in offsets.items()},
    )


def residuals_of(predictor: Any, ds: YieldDataset, years: Sequence[int]) -> pd.DataFrame:
    """Residuals (geoid, year, residual = true - predicted, bu/acre) of ``predictor`` on ``years``' labelled counties."""
    geoids = ds.counties["geoid"].astype(str).to_numpy()
    frames = []
    for year in years:
        out = predictor.predict(ds, int(year))
        frames.append(pd.DataFrame({"geoid": geoids[out.county], "year": int(year), "residual": out.target - out.predicted}))
    return pd.concat(frames, ignore_index=True)


def fit_calibration(
    kind: str, predictor: Any, ds: YieldDataset, train_years: Sequence[int], val_year: int | None = None
) -> Calibration:
    """Fit ``kind`` to ``predictor``'s residuals on ``train_years``; with ``val_year`` its RMSE before and after.

    ``predictor`` is a loaded checkpoint (:func:`geoapp.training.model_kinds.load_yield_checkpoint`,
    trend included) and ``ds`` the dataset with its yields as they are (not a detrended view).

    Raises:
        InputError: as :func:`fit_to_residuals`; a year the dataset lacks.
    """
    cal = fit_to_residuals(kind, residuals_of(predictor, ds, train_years))
    if val_year is None:
        return cal
    out = predictor.predict(ds, int(val_year))
    after = out.predicted + shift(cal, ds, out.county, int(val_year))
    before_rmse, _ = rmse_r2(out.target, out.predicted)
    after_rmse, _ = rmse_r2(out.target, after)
    validation = {"year": int(val_year), "rmse_before_bu": before_rmse, "rmse_after_bu": after_rmse}
    return dataclasses.replace(cal, validation=validation)


def shift(cal: Calibration | None, ds: YieldDataset, county: np.ndarray, year: int) -> np.ndarray:
    """What the calibration adds to the predictions of ``county`` (rows of ``ds.counties``) in ``year``: (N,) float64, bu/acre."""
    county = np.asarray(county, dtype=np.int64)
    if cal is None:
        return np.zeros(len(county))
    geoids = ds.counties["geoid"].astype(str).to_numpy()[county]
    return float(cal.trend_at(year)) + cal.offsets_of(geoids)


def from_card(card: Mapping[str, Any], where: str = "card") -> Calibration | None:
    """The calibration a checkpoint card records (``calibration``), or None when it has none.

    Raises:
        DataFileError: the entry is not a calibration with finite numbers.
    """
    entry = card.get("calibration")
    if entry is None:
        return None
    try:
        if not isinstance(entry, Mapping):
            raise ValueError("not an object")
        kind = entry["kind"]
        if kind not in CALIBRATIONS or kind == "none":
            raise ValueError(f"kind {kind!r}")
        numbers = [float(entry[k]) for k in ("slope_bu_per_year", "intercept_bu", "reference_year")]
        sds = [float(entry.get(k, 0.0)) for k in ("county_sd_bu", "residual_sd_bu")]
        lam = entry.get("shrinkage_years")
        lam = math.inf if lam is None else float(lam)
        raw_offsets = entry.get("offsets_bu") or {}
        if not isinstance(raw_offsets, Mapping):
            raise ValueError("offsets_bu is not an object of geoid: bu/acre")
        offsets = {str(g): float(v) for g, v in raw_offsets.items()}
        if not all(math.isfinite(v) for v in [*numbers, *sds, *offsets.values()]):
            raise ValueError("a value is not finite")
        if any(abs(v) > _LIMIT_BU for v in [numbers[0], numbers[1], *offsets.values()]) or not 1900 <= numbers[2] <= 2100:
            raise ValueError(f"a value is out of range (|bu/acre| above {_LIMIT_BU:g}, or a reference year outside 1900..2100)")
        if min(sds) < 0 or lam < 0:
            raise ValueError("a standard deviation or the shrinkage is negative")
        if kind == "trend" and offsets:
            raise ValueError("a 'trend' calibration holds county offsets")
        raw_years = entry["fitted_years"]
        if not isinstance(raw_years, list) or not all(isinstance(y, int) and not isinstance(y, bool) for y in raw_years):
            raise ValueError("fitted_years is not a list of whole years")
        years = tuple(raw_years)
        if len(set(years)) < 2:
            raise ValueError("fitted_years holds fewer than two years")
        validation = dict(entry.get("validation") or {})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataFileError(
            f"{where}: the calibration entry is not a residual calibration ({exc}); expected kind 'trend' or "
            "'county-trend' with slope_bu_per_year, intercept_bu, reference_year, fitted_years and offsets_bu; "
            "fit it again with `python -m geoapp train calibrate CHECKPOINT` (or remove it with --kind none)"
        ) from exc
    return Calibration(kind, *numbers, years, *sds, lam, offsets, validation)


_LIMIT_BU = 1000.0
"""Largest trend value or county offset (bu/acre) a card may hold: far above any yield, so a damaged number stands out."""


class CalibratedPredictor(ShiftedPredictor):
    """A loaded checkpoint whose predictions get its calibration added (trend of the year, county offsets).

    The what-if ablation's masked predictions get the same additions per county, so its changes are unaffected.
    """

    def __init__(self, inner: Any, calibration: Calibration) -> None:
        super().__init__(inner)
        self.calibration = calibration

    def addition(self, ds: YieldDataset, county: np.ndarray, year: int) -> np.ndarray:
        """The calibration's :func:`shift` of ``county`` in ``year`` (bu/acre)."""
        return shift(self.calibration, ds, county, year)


def calibrate_predictor(predictor: Any, card: Mapping[str, Any], where: str = "card") -> Any:
    """``predictor`` wrapped in a :class:`CalibratedPredictor` when ``card`` records a calibration, else itself."""
    cal = from_card(card, where)
    return predictor if cal is None else CalibratedPredictor(predictor, cal)
