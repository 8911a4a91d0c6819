"""A yield trend fitted on the training years: the technology trend a yield model in practice removes.

County yields rise year after year with technology and management (the simulation adds 0.45
bu/acre per year; real US soybean yields rise by about 0.4-0.5). The inputs (vegetation, weather,
soil) do not show the year, so a model trained on years y - N_y - 1 .. y - 2 predicts the test year y
about as if it were the middle of those years: a bias of roughly (N_y / 2 + 1.5) x slope for every
county. The paper does not detrend. A yield model in practice does: it fits the trend on the years
it trains on and models what remains.

The trend here is one straight line over all counties, fitted by ordinary least squares to the
labelled county-year yields of the training years only (never the validation or test year):

    trend(t) = intercept + slope * (t - reference_year)      (bu/acre; t a calendar year)

A model then trains on ``yield - trend(year)`` and its predictions get ``trend(year)`` added back.
Within one year the trend is a constant, so a year's RMSE and R^2 are the same on either scale: a
validation or test score computed on the detrended targets is the score of the trended prediction.

How the trainers see it: :func:`detrended` returns a view of the dataset whose labelled yields are
the residuals (the cube and counties are shared, not copied) and whose card carries the trend
(``yield_trend``). Every model kind reads its targets through the dataset, so every kind trains on
them unchanged, and writes the trend into its checkpoint card's ``dataset`` entry
(:func:`~geoapp.training.yield_runs.dataset_card`). Loading a checkpoint
(:func:`~geoapp.training.model_kinds.load_yield_checkpoint`) adds it back to every prediction
(:func:`from_card`, :class:`TrendedPredictor`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from geoapp.data.dataset import YieldDataset
from geoapp.errors import DataFileError, InputError
from geoapp.training.shifted_predictor import ShiftedPredictor
from geoapp.training.yield_data import check_dataset_arg, dataset_years

__all__ = ["TRENDS", "YieldTrend", "fit_trend", "detrended", "from_card", "TrendedPredictor"]

TRENDS: tuple[str, ...] = ("none", "linear")
"""Trend options of a training run: ``none`` (the paper's: targets as they are) or ``linear``."""


@dataclass(frozen=True)
class YieldTrend:
    """A straight-line yield trend, bu/acre per calendar year.

    Attributes:
        slope: bu/acre per year.
        intercept: bu/acre at ``reference_year``.
        reference_year: the mean year of the fitted rows (each labelled county-year counts once), so that the
            intercept is a yield, not a year-0 value.
        fitted_years: the years it was fitted on (the training years).
    """

    slope: float
    intercept: float
    reference_year: float
    fitted_years: tuple[int, ...]

    def at(self, years: Sequence[int] | np.ndarray | int) -> np.ndarray:
        """The trend (bu/acre, float64) at each of ``years``; the shape of ``years``."""
        t = np.asarray(years, dtype=np.float64)
        return self.intercept + self.slope * (t - self.reference_year)

    def to_card(self) -> dict[str, Any]:
        """The card's ``trend`` entry."""
        return {
            "kind": "linear",
            "slope_bu_per_year": self.slope,
            "intercept_bu": self.intercept,
            "reference_year": self.reference_year,
            "fitted_years": list(self.fitted_years),
        }


def fit_trend(ds: YieldDataset, years: list[int]) -> YieldTrend:
    """The least-squares line through the labelled county-year yields of ``years`` (the training years).

    Raises:
        InputError: ``ds`` is not a loaded dataset, a year is not in it, or the years hold labels of
            fewer than two distinct years (a line needs two).
    """
    check_dataset_arg(ds)
    years = dataset_years(ds, years)
    lab = ds.labelled()
    lab = lab[lab["year"].isin(years)]
    held = sorted(set(int(y) for y in lab["year"]))
    if len(held) < 2:
        raise InputError(
            f"a linear yield trend needs labelled yields in at least two years; the training years {years} hold "
            f"labels in {held or 'none'} (dataset {ds.name!r}); train with trend 'none'"
        )
    t = lab["year"].to_numpy(dtype=np.float64)
    y = lab["yield"].to_numpy(dtype=np.float64)
    ref = float(t.mean())
    slope, intercept = np.polyfit(t - ref, y, 1)
    return YieldTrend(float(slope), float(intercept), ref, tuple(held))


def detrended(ds: YieldDataset, trend: YieldTrend) -> YieldDataset:
    """A view of ``ds`` whose yields are ``yield - trend(year)`` (the cube, counties and card shared).

    Every year's labels are detrended (those of the validation and test years too): a model's scores
    on a year are the same on either scale (see the module docstring).
    """
    check_dataset_arg(ds)
    if not isinstance(trend, YieldTrend):
        raise InputError(f"trend must be a YieldTrend (from fit_trend), got {type(trend).__name__}")
    yields = ds.yields.copy()
    yields["yield"] = yields["yield"] - trend.at(yields["year"].to_numpy())
    return dataclasses.replace(ds, yields=yields, card={**ds.card, "yield_trend": trend.to_card()})


def from_card(card: Mapping[str, Any], where: str = "card") -> YieldTrend | None:
    """The trend a checkpoint card records (``dataset.yield_trend``), or None when it has none.

    None: the model was trained on the yields as they are.

    Raises:
        DataFileError: the entry is not a linear trend with finite numbers.
    """
    entry = (card.get("dataset") or {}).get("yield_trend")
    if entry is None:
        return None
    try:
        if entry["kind"] != "linear":
            raise ValueError(f"kind {entry['kind']!r}")
        numbers = [float(entry[k]) for k in ("slope_bu_per_year", "intercept_bu", "reference_year")]
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError("a value is not finite")
        years = tuple(int(y) for y in entry["fitted_years"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(
            f"{where}: the yield_trend entry {entry!r} is not a linear trend ({exc}); expected kind 'linear' with "
            "slope_bu_per_year, intercept_bu, reference_year and fitted_years; retrain the checkpoint"
        ) from exc
    return YieldTrend(*numbers, years)


class TrendedPredictor(ShiftedPredictor):
    """A loaded checkpoint whose model predicts detrended yields: its predictions get the trend added back.

    The what-if ablation's masked predictions get the same constant per year, so changes are unaffected.
    """

    def __init__(self, inner: Any, trend: YieldTrend) -> None:
        super().__init__(inner)
        self.trend = trend

    def addition(self, ds: YieldDataset, county: np.ndarray, year: int) -> float:
        """``trend(year)`` (bu/acre), the same for every county."""
        return float(self.trend.at(year))
