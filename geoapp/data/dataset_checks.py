"""Checks of a dataset folder's card and tables, run when it is opened (:func:`geoapp.data.dataset.load_dataset`).

A folder may have been edited by hand, copied half-way or written by another tool; a bad value would
otherwise surface later as a traceback in a page or a training run, or as a wrong number shown as
valid. Each check raises :class:`~geoapp.errors.DataFileError` naming the file, the row (its line in
the file, the header being line 1) and the column, the value found and what was expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoapp.data.grid import Grid
from geoapp.errors import DataFileError, InputError

__all__ = ["FIRST_YEAR", "LAST_YEAR", "YIELD_RANGE", "validate_card", "validate_counties", "validate_yields"]

FIRST_YEAR, LAST_YEAR = 1900, 2100
"""The years a dataset may hold (anything else is a typo or a unit mix-up)."""

YIELD_RANGE: tuple[float, float] = (-100.0, 1000.0)
"""County yields (bu/acre) a dataset may hold. Wide on purpose: the simulation's noisy yields go a little
below 0 (about -9.4 at worst), and no crop's county average comes near 1,000; beyond either end a value is
a unit or parsing error, never a harvest."""

_FIX = "fix the file or rebuild the dataset (python -m geoapp data build --force ...)"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def validate_card(card: Any, path: Path) -> None:
    """Refuse a card that is not a JSON object or whose ``tile_px``, ``years``, ``grid``, ``fingerprint`` are bad."""
    where = repr(str(path))
    if not isinstance(card, dict):
        raise DataFileError(f"{where} is not a JSON object (got {type(card).__name__}); rebuild the dataset")
    if "tile_px" not in card:
        raise DataFileError(f"{where} lacks 'tile_px'; rebuild the dataset")
    if not (_is_int(card["tile_px"]) and card["tile_px"] >= 1):
        raise DataFileError(f"{where}: 'tile_px' must be a positive whole number of pixels, got {card['tile_px']!r}; {_FIX}")
    years = card.get("years")
    if years is not None:
        if not isinstance(years, list) or not years:
            raise DataFileError(f"{where}: 'years' must be a non-empty list of years, got {years!r}; {_FIX}")
        bad = [y for y in years if not (_is_int(y) and FIRST_YEAR <= y <= LAST_YEAR)]
        if bad:
            raise DataFileError(
                f"{where}: 'years' must hold whole years {FIRST_YEAR}-{LAST_YEAR}, got {bad[0]!r} among {len(years)}; {_FIX}"
            )
    grid = card.get("grid")
    if grid is not None:
        if not isinstance(grid, dict):
            raise DataFileError(f"{where}: 'grid' must be an object of grid attributes, got {grid!r}; {_FIX}")
        try:
            Grid.from_attrs(grid)
        except (InputError, ValueError, TypeError) as exc:
            raise DataFileError(f"{where}: 'grid' is not a valid grid description ({exc}); {_FIX}") from exc
    fingerprint = card.get("fingerprint")
    if not (isinstance(fingerprint, str) and fingerprint):
        raise DataFileError(f"{where} lacks a 'fingerprint' (a text hash of the data), got {fingerprint!r}; {_FIX}")
    if "simulated" in card and not isinstance(card["simulated"], bool):
        raise DataFileError(f"{where}: 'simulated' must be true or false, got {card['simulated']!r}; {_FIX}")


def _first_bad(df: pd.DataFrame, mask: pd.Series, column: str, path: Path, what: str) -> None:
    """Raise naming the first row where ``mask`` holds (``what`` says what was expected), if any."""
    if not mask.any():
        return
    rows = np.flatnonzero(mask.to_numpy())
    shown = _shown(df[column].iloc[rows[0]])
    more = f" (and {len(rows) - 1} more row(s) like it)" if len(rows) > 1 else ""
    raise DataFileError(f"{str(path)!r}, line {rows[0] + 2}, column {column!r}: {shown} {what}{more}; {_FIX}")


def _shown(value: Any) -> str:
    """A cell as the file shows it: ``'abc'``, ``'1850'``, ``'2012.5'``, or an empty (or NA) cell."""
    if hasattr(value, "item"):
        value = value.item()  # numpy scalars
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "an empty (or NA) cell"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(str(value))


def _numbers(df: pd.DataFrame, column: str, path: Path, allow_empty: bool) -> pd.Series:
    """``df[column]`` as floats; text that is not a number (or an empty cell, unless allowed) is refused."""
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    if raw.dtype == bool:
        _first_bad(df, pd.Series(True, index=df.index), column, path, "is not a number")
    _first_bad(df, raw.notna() & values.isna(), column, path, "is not a number")
    if not allow_empty:
        _first_bad(df, raw.isna(), column, path, "where a value is required")
    return values


def _geoids(df: pd.DataFrame, path: Path) -> None:
    geoid = df["geoid"].astype("string")
    _first_bad(df, ~geoid.str.fullmatch(r"\d{5}").fillna(False).astype(bool), "geoid", path, "is not a 5-digit county code")


def validate_counties(counties: pd.DataFrame, path: Path, shape: tuple[int, int]) -> pd.DataFrame:
    """Check counties.csv: 5-digit unique geoids, anchors inside the grid (``shape`` = (height, width)), lat/lon in range.

    Returns the table with the anchor columns as integers and the coordinates as floats.
    """
    _geoids(counties, path)
    _first_bad(counties, counties["geoid"].duplicated(), "geoid", path, "appears twice (one row per county)")
    out = counties.copy()
    for column, size in (("anchor_row", shape[0]), ("anchor_col", shape[1])):
        values = _numbers(counties, column, path, allow_empty=False)
        _first_bad(counties, values % 1 != 0, column, path, "is not a whole pixel index")
        _first_bad(counties, (values < 0) | (values >= size), column, path, f"is outside the grid (0..{size - 1})")
        out[column] = values.astype(np.int64)
    for column, limit in (("anchor_lat", 90.0), ("anchor_lon", 180.0)):
        values = _numbers(counties, column, path, allow_empty=False)
        _first_bad(counties, ~(values.abs() <= limit), column, path, f"is not a coordinate in -{limit:g}..{limit:g} degrees")
        out[column] = values
    return out


def validate_yields(yields: pd.DataFrame, path: Path, geoids: pd.Series, years: Sequence[int]) -> pd.DataFrame:
    """Check yields.csv: whole years of the cube, numeric yields (bu/acre), a yield on every labelled row.

    Returns the table with ``year`` as integers, ``yield`` as floats (NaN where withheld) and
    ``labelled`` as booleans.
    """
    if yields.empty:
        raise DataFileError(
            f"{str(path)!r} holds no rows (only a header): a dataset has one row per county and year; rebuild the dataset"
        )
    _geoids(yields, path)
    _first_bad(yields, ~yields["geoid"].isin(set(geoids)), "geoid", path, "is not a county of counties.csv")
    out = yields.copy()
    year = _numbers(yields, "year", path, allow_empty=False)
    _first_bad(yields, year % 1 != 0, "year", path, "is not a whole year")
    _first_bad(yields, (year < FIRST_YEAR) | (year > LAST_YEAR), "year", path, f"is not a year in {FIRST_YEAR}-{LAST_YEAR}")
    _first_bad(yields, ~year.isin([float(y) for y in years]), "year", path, f"is not a year of the cube {list(years)}")
    out["year"] = year.astype(np.int64)
    _first_bad(out, out.duplicated(["geoid", "year"]), "geoid", path, "has a second row for the same year")
    value = _numbers(yields, "yield", path, allow_empty=True)
    _first_bad(yields, np.isinf(value), "yield", path, "is not a finite number of bu/acre")
    lo, hi = YIELD_RANGE
    _first_bad(
        yields,
        (value < lo) | (value > hi),
        "yield",
        path,
        f"is not a plausible county yield ({lo:g}..{hi:g} bu/acre; a unit or parsing error)",
    )
    out["yield"] = value
    labelled = yields["labelled"]
    if labelled.dtype != bool:
        text = labelled.astype("string").str.strip().str.lower()
        ok = text.isin(["true", "false", "1", "0", "1.0", "0.0"]).fillna(False).astype(bool)
        _first_bad(yields, ~ok, "labelled", path, "is not True or False")
        labelled = text.isin(["true", "1", "1.0"]).astype(bool)
    out["labelled"] = labelled.to_numpy(dtype=bool)
    _first_bad(
        yields, out["labelled"] & value.isna(), "yield", path, "on a labelled row: a row with labelled = True needs a yield"
    )
    return out
