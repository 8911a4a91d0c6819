"""Error budget of a crop-yield checkpoint on SIMULATED data: which of the simulation's yield terms its test errors carry.

On a simulated dataset every county yield is a known sum (:func:`geoapp.data.simulate.county_terms`):

    yield = potential + water + heat + excess + trend + effect + noise    (bu/acre)

where ``noise`` (the county-year noise) is what no model can predict: its RMSE is the noise floor. A
prediction's error against the noise-free yield ``e = predicted - (yield - noise)`` is what a better model
could remove. For each term ``k`` this module reports the **missed share**: the least-squares slope of
``-e`` on ``k`` over the test year's labelled counties,

    missed_k = cov(-e, k) / var(k),

1 when the predictions ignore the term's county-to-county variation, 0 when they follow it fully,
negative when they overreact; ``missed_k x sd(k)`` is that part of the error in bu/acre. The terms are
correlated (``water`` and ``heat`` scale with ``potential``), so the shares are read one term at a
time; ``joint_r2`` is the share of the error's variance that all the terms explain together (the rest is
not a linear function of any term).

It also sets the error against the target of 1.3 x the noise floor: with the noise independent of the
predictions, a test RMSE of ``1.3 x floor`` leaves ``sqrt(1.69 - 1) x floor`` (about 0.83 x floor) for
the error against the noise-free yield (``allowed_vs_expected``).

Real data has no such terms: :func:`error_budget` refuses a dataset that is not simulated.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoapp.data.dataset import YieldDataset
from geoapp.errors import InputError

__all__ = [
    "BUDGET_TERMS",
    "TERM_LABELS",
    "TARGET_FACTOR",
    "error_budget",
    "budget_of_predictions",
    "county_terms_of",
    "simulation_config_of",
    "budget_markdown",
]

BUDGET_TERMS: tuple[str, ...] = ("potential", "water", "heat", "excess", "effect")
"""The terms whose county-to-county variation a prediction can miss (``trend`` is one number per year: it is the bias)."""

TERM_LABELS: dict[str, str] = {
    "potential": "yield potential",
    "water": "water stress",
    "heat": "heat stress",
    "excess": "excess rain, other weather",
    "effect": "county effect",
}
"""What each of :data:`BUDGET_TERMS` is, in words (tables and charts)."""

TARGET_FACTOR = 1.3
"""The target test RMSE as a multiple of the noise floor."""

_YIELD_TOLERANCE = 0.01
"""Largest difference (bu/acre) between a dataset's yields and the re-run simulation's (the tables keep 3 decimals)."""


def simulation_config_of(ds: YieldDataset) -> Any:
    """The :class:`~geoapp.data.simulate.SimulationConfig` a simulated dataset was built with, or None.

    None for real data and for a simulated dataset whose card records no configuration (an early version).

    Raises:
        InputError: the card's configuration has fields this version of geoapp does not know.
    """
    config = (ds.card or {}).get("simulation_config") if ds.simulated else None
    if not isinstance(config, dict):
        return None
    from geoapp.data.simulate import SimulationConfig

    try:
        return SimulationConfig(**{**config, "states": tuple(config["states"]) if config.get("states") else None})  # lists
    except TypeError as exc:  # a card of another geoapp version (a field this version does not know)
        raise InputError(
            f"the simulation configuration in the card of {ds.title!r} does not match this version of geoapp ({exc}); "
            "rebuild the dataset with `python -m geoapp data build`"
        ) from exc


def _missed(error: np.ndarray, term: np.ndarray) -> float | None:
    """Slope of ``-error`` on ``term`` (both centred); None for a term that does not vary over the counties."""
    x = term - term.mean()
    if float(x @ x) <= 1e-12 * len(x):
        return None
    return float(-(error - error.mean()) @ x / (x @ x))


def _joint_r2(error: np.ndarray, terms: pd.DataFrame) -> float | None:
    """R^2 of the least-squares fit of ``error`` on every term (with an intercept), or None.

    None when the counties are too few for it to mean anything (no more than twice the coefficients).
    """
    x = np.column_stack([np.ones(len(terms)), terms.to_numpy(dtype=np.float64)])
    if len(error) <= 2 * x.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(x, error, rcond=None)
    resid = error - x @ coef
    total = float(((error - error.mean()) ** 2).sum())
    return float(1.0 - (resid @ resid) / total) if total > 0 else 0.0


def error_budget(folder: str | Path, ds: YieldDataset, year: int | None = None, calibrated: bool = True) -> dict[str, Any]:
    """The error budget of one checkpoint on one test year of a simulated dataset.

    Args:
        folder: a crop-yield checkpoint folder (any model kind).
        ds: the SIMULATED dataset it was trained on.
        year: the year to score (default: the checkpoint's test year).
        calibrated: score with the checkpoint's residual calibration, if it has one (as the app predicts).

    Returns:
        :func:`budget_of_predictions` of its predictions, plus ``checkpoint`` and ``calibrated`` (whether
        a calibration was applied).

    Raises:
        InputError: see :func:`budget_of_predictions`.
    """
    from geoapp.training.checkpoint import read_card
    from geoapp.training.yield_trainer import evaluate_yield

    if simulation_config_of(ds) is None:
        raise _not_simulated(ds)
    scored = evaluate_yield(folder, ds, year, calibrated=calibrated)
    budget = budget_of_predictions(scored["table"], ds, int(scored["year"]), county_terms_of(ds, int(scored["year"])))
    return {
        "model": scored["model"],
        "checkpoint": str(folder),
        "calibrated": bool(calibrated) and bool(read_card(folder).get("calibration")),
        **budget,
    }


def county_terms_of(ds: YieldDataset, year: int) -> pd.DataFrame:
    """:func:`geoapp.data.simulate.county_terms` of one year of a simulated dataset (about 2 s for the demo; kept).

    Raises:
        InputError: ``ds`` is not simulated.
    """
    from geoapp.data.simulate import county_terms

    cfg = simulation_config_of(ds)
    if cfg is None:
        raise _not_simulated(ds)
    key = (str(ds.root), str(ds.fingerprint), int(year))
    with _TERMS_LOCK:
        kept = _TERMS.get(key)
    if kept is None:
        kept = county_terms(cfg, [int(year)])  # outside the lock: seconds of work
        with _TERMS_LOCK:
            while len(_TERMS) >= 8:
                _TERMS.pop(next(iter(_TERMS)), None)  # the oldest: a year's terms are a few hundred kB
            _TERMS[key] = kept
    return kept.copy()


_TERMS: dict[tuple[str, str, int], pd.DataFrame] = {}
"""The terms :func:`county_terms_of` computed, per (dataset folder, fingerprint, year); re-simulating takes seconds."""
_TERMS_LOCK = threading.Lock()
"""Guards :data:`_TERMS` (the app's script threads share it)."""


def budget_of_predictions(table: pd.DataFrame, ds: YieldDataset, year: int, terms: pd.DataFrame) -> dict[str, Any]:
    """The error budget of predictions of one year's labelled counties.

    Args:
        table: ``geoid``, ``true`` and ``predicted`` (bu/acre), one row per county of ``year``; rows
            without a true yield are left out.
        ds: the SIMULATED dataset the table comes from.
        year: the year of the table.
        terms: :func:`county_terms_of` of ``ds`` for ``year``.

    Returns:
        dict: ``year``, ``n`` (labelled counties), ``rmse`` (test RMSE), ``floor`` (RMSE of the noise),
        ``target`` (1.3 x floor), ``rmse_vs_expected`` (against the noise-free yield),
        ``allowed_vs_expected``, ``bias`` (mean error against the noise-free yield), ``joint_r2``, and
        ``terms``: one dict per term of :data:`BUDGET_TERMS` with ``term``, ``label`` (in words), ``sd`` (over the counties),
        ``missed`` (share) and ``missed_bu`` (``missed x sd``); every figure in bu/acre unless a share.

    Raises:
        InputError: ``ds`` is not simulated, fewer than 2 labelled counties, counties missing from the
            simulation's table, or yields that differ from a re-run of its simulation (the dataset was
            changed after it was built).
    """
    if simulation_config_of(ds) is None:
        raise _not_simulated(ds)
    table = table[np.isfinite(table["true"].to_numpy(dtype=np.float64))].assign(geoid=lambda d: d["geoid"].astype(str))
    if len(table) < 2:
        raise InputError(f"an error budget needs at least 2 labelled counties in {year}; {ds.title!r} has {len(table)}")
    both = table[["geoid", "true", "predicted"]].merge(terms[terms["year"] == year], on="geoid", how="inner")
    if len(both) != len(table):
        raise InputError(
            f"{len(table) - len(both)} counties of {ds.title!r} are not in its simulation's county table; rebuild the dataset"
        )
    gap = float(np.max(np.abs(both["true"] - both["yield"])))
    if gap > _YIELD_TOLERANCE:
        raise InputError(
            f"the yields of {ds.title!r} differ from a re-run of its simulation by up to {gap:.3f} bu/acre; "
            "the dataset was changed after it was built: rebuild it with `python -m geoapp data build`"
        )
    error = (both["predicted"] - both["expected"]).to_numpy(dtype=np.float64)
    floor = float(np.sqrt(np.mean(both["noise"].to_numpy() ** 2)))
    rows = []
    for k in BUDGET_TERMS:
        values = both[k].to_numpy(dtype=np.float64)
        missed = _missed(error, values)
        sd = float(values.std())
        rows.append(
            {"term": k, "label": TERM_LABELS[k], "sd": sd, "missed": missed, "missed_bu": None if missed is None else missed * sd}
        )
    return {
        "year": int(year),
        "n": len(both),
        "rmse": float(np.sqrt(np.mean((both["predicted"] - both["true"]) ** 2))),
        "floor": floor,
        "target": TARGET_FACTOR * floor,
        "rmse_vs_expected": float(np.sqrt(np.mean(error**2))),
        "allowed_vs_expected": float(np.sqrt(TARGET_FACTOR**2 - 1.0) * floor),
        "bias": float(error.mean()),
        "joint_r2": _joint_r2(error, both[list(BUDGET_TERMS)]),
        "terms": rows,
    }


def _not_simulated(ds: YieldDataset) -> InputError:
    return InputError(
        f"an error budget needs the simulation's own yield terms; {ds.title!r} is not a simulated dataset "
        "(real data has no known noise floor or terms: use `bench yield` for its RMSE and R^2)"
    )


def _label(checkpoint: str) -> str:
    """A checkpoint's name in a table: ``semi-ha-loc-2018`` for ``.../semi-ha-loc-2018/best``."""
    path = Path(checkpoint)
    return path.parent.name if path.name == "best" and path.parent.name else path.name


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def budget_markdown(budgets: list[dict[str, Any]]) -> str:
    """The budgets as two markdown tables: the RMSE against the target, and the missed share of each term."""
    lines = [
        "| checkpoint | year | calibrated | counties | test RMSE | floor | 1.3 x floor | RMSE vs noise-free "
        "| allowed for the target | bias | terms explain |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b in budgets:
        lines.append(
            f"| {_label(b['checkpoint'])} | {b['year']} | {'yes' if b['calibrated'] else 'no'} | {b['n']} | "
            f"{b['rmse']:.3f} | {b['floor']:.3f} | {b['target']:.3f} | {b['rmse_vs_expected']:.3f} | "
            f"{b['allowed_vs_expected']:.3f} | {b['bias']:+.3f} | {_percent(b['joint_r2'])} |"
        )
    lines += [
        "",
        "| checkpoint | year | " + " | ".join(f"{t} (sd)" for t in BUDGET_TERMS) + " |",
        "|---|---|" + "---|" * len(BUDGET_TERMS),
    ]
    for b in budgets:
        cells = [f"{_share(r['missed'])} ({r['sd']:.2f})" for r in b["terms"]]
        lines.append(f"| {_label(b['checkpoint'])} | {b['year']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
