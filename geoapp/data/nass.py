"""Read county crop yields from a USDA NASS Quick Stats CSV export.

Quick Stats (https://quickstats.nass.usda.gov) exports one quoted, comma-separated row per published
number. The website names its columns ``"Program","Year","Period","Week Ending","Geo Level","State",
"State ANSI","Ag District","Ag District Code","County","County ANSI","Zip Code","Region",
"watershed_code","Watershed","Commodity","Data Item","Domain","Domain Category","Value","CV (%)"``;
the API's CSV uses lower-case names for the same fields (``source_desc``, ``year``,
``reference_period_desc``, ``agg_level_desc``, ``state_ansi``, ``county_ansi``, ``county_name``,
``commodity_desc``, ``short_desc``, ``domain_desc``, ``Value``, ...). Both map to one canonical set.

Quirks handled, in the order :func:`read_quickstats` applies them (each dropped row is counted in
``df.attrs["dropped"]``):

- rows whose Geo Level is not COUNTY (STATE or AG DISTRICT totals) are dropped; a file with no
  COUNTY row at all is refused;
- several commodities or data items in one file: rows are selected by commodity and data item
  (case-insensitive); an empty selection is an error listing what the file does hold;
- Period other than ``YEAR`` (``YEAR - AUG FORECAST`` and other forecasts) and Domain other than
  ``TOTAL`` are dropped;
- the ``OTHER (COMBINED) COUNTIES`` / ``OTHER COUNTIES`` rows have no County ANSI and are dropped;
- withheld values are written as codes with a leading space (`` (D)``, `` (Z)``, `` (NA)``,
  `` (X)``, `` (S)``) and are dropped; numbers may carry thousands separators (``1,234.5``);
- State and County ANSI may lose their leading zeros (``1`` and ``7``) and are zero-padded.

Everything is read as text (``dtype=str``) and converted explicitly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from geoapp.errors import DataFileError, InputError

__all__ = ["read_quickstats", "DEFAULT_COMMODITY", "DEFAULT_DATA_ITEM"]

DEFAULT_COMMODITY = "SOYBEANS"
DEFAULT_DATA_ITEM = "SOYBEANS - YIELD, MEASURED IN BU / ACRE"

# canonical name -> (website header, API header)
_COLUMNS: dict[str, tuple[str, str]] = {
    "program": ("Program", "source_desc"),
    "year": ("Year", "year"),
    "period": ("Period", "reference_period_desc"),
    "geo_level": ("Geo Level", "agg_level_desc"),
    "state_ansi": ("State ANSI", "state_ansi"),
    "county": ("County", "county_name"),
    "county_ansi": ("County ANSI", "county_ansi"),
    "commodity": ("Commodity", "commodity_desc"),
    "data_item": ("Data Item", "short_desc"),
    "domain": ("Domain", "domain_desc"),
    "value": ("Value", "Value"),
}
_REQUIRED = ("year", "period", "geo_level", "state_ansi", "county_ansi", "commodity", "data_item", "domain", "value")
_ALIASES = {name.lower(): canon for canon, names in _COLUMNS.items() for name in names}
_WITHHELD = re.compile(r"^\((D|Z|NA|X|S)\)$")
"""Quick Stats suppression codes, e.g. (D) withheld to avoid disclosing individual operations."""


def read_quickstats(
    path: str | Path,
    commodity: str = DEFAULT_COMMODITY,
    data_item: str | None = DEFAULT_DATA_ITEM,
) -> pd.DataFrame:
    """Read county yields from a Quick Stats CSV export (website or API spelling).

    Args:
        path: the CSV file.
        commodity: the Commodity to keep, case-insensitive (``"SOYBEANS"``, ``"CORN"``).
        data_item: the Data Item to keep, case-insensitive; ``None`` keeps any item of the commodity
            that is a yield measured in BU / ACRE.

    Returns:
        DataFrame with columns ``geoid`` (5-character state + county ANSI), ``year`` (int) and
        ``yield`` (float, bu/acre), one row per (geoid, year), sorted by both.
        ``attrs["dropped"]`` counts the rows dropped per reason; ``attrs["source"]`` is ``str(path)``.

    Raises:
        DataFileError: the file is missing, unreadable, empty, or not a county-level export.
        InputError: the selection is empty, a value cannot be parsed, or (geoid, year) repeats.
    """
    raw = _read_csv(Path(path))
    dropped: dict[str, int] = {}

    def keep(df: pd.DataFrame, mask: pd.Series, reason: str) -> pd.DataFrame:
        dropped[reason] = int((~mask).sum())
        return df[mask]

    geo = raw["geo_level"].str.upper()
    if not (geo == "COUNTY").any():
        raise DataFileError(
            f"{path}: not a county-level Quick Stats export: Geo Level is {sorted(set(geo))}, "
            "expected COUNTY; export again with Geographic Level COUNTY"
        )
    df = keep(raw, geo == "COUNTY", "non_county")
    df = keep(df, df["commodity"].str.upper() == commodity.strip().upper(), "other_commodity")
    if df.empty:
        found = sorted(set(raw["commodity"]))
        raise InputError(f"{path}: no county rows for commodity {commodity!r}; the file holds commodities {found}")
    df = keep(df, _item_mask(df["data_item"], data_item), "other_data_item")
    if df.empty:
        found = sorted(set(raw.loc[raw["commodity"].str.upper() == commodity.strip().upper(), "data_item"]))
        wanted = repr(data_item) if data_item else "a yield item in BU / ACRE"
        raise InputError(f"{path}: no county rows for data item {wanted}; for {commodity!r} the file holds {found}")
    df = keep(df, df["period"].str.upper() == "YEAR", "non_year_period")
    df = keep(df, df["domain"].str.upper() == "TOTAL", "non_total_domain")
    df = keep(df, df["county_ansi"] != "", "other_counties")
    df = keep(df, ~df["value"].str.match(_WITHHELD), "withheld")

    out = pd.DataFrame(
        {
            "geoid": _ansi(df, "state_ansi", 2, path) + _ansi(df, "county_ansi", 3, path),
            "year": _years(df, path),
            "yield": _numbers(df, "value", path),
        }
    )
    _check_duplicates(out, df, path)
    out = out.sort_values(["geoid", "year"]).reset_index(drop=True)
    out.attrs["dropped"] = dropped
    out.attrs["source"] = str(path)
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    """Read the file as text, rename its columns to the canonical names and strip every value."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise DataFileError(f"{path}: file not found; expected a Quick Stats CSV export") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataFileError(f"{path}: file is empty; expected a Quick Stats CSV export") from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot read as a Quick Stats CSV export ({exc})") from exc
    raw = raw.rename(columns=lambda c: _ALIASES.get(str(c).strip().lower(), str(c).strip()))
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        names = [f"{_COLUMNS[c][0]!r} (API: {_COLUMNS[c][1]!r})" for c in missing]
        raise DataFileError(
            f"{path}: not a Quick Stats CSV export: missing column(s) {', '.join(names)}; "
            f"expected the Quick Stats columns {[_COLUMNS[c][0] for c in _REQUIRED]}; "
            f"found {list(raw.columns)[:12]}"
        )
    if raw.empty:
        raise DataFileError(f"{path}: the export has a header but no rows")
    raw = raw.loc[:, ~raw.columns.duplicated()].copy()
    for col in _COLUMNS:
        if col in raw.columns:
            raw[col] = raw[col].str.strip()
    raw.index = raw.index + 2  # the file's line number, for error messages
    return raw


def _item_mask(items: pd.Series, data_item: str | None) -> pd.Series:
    """Rows whose Data Item is ``data_item`` (any BU / ACRE yield item when ``None``)."""
    upper = items.str.upper()
    if data_item is not None:
        return upper == " ".join(data_item.upper().split())
    return upper.str.contains("YIELD", regex=False) & upper.str.endswith("MEASURED IN BU / ACRE")


def _ansi(df: pd.DataFrame, col: str, width: int, path: str | Path) -> pd.Series:
    """Zero-pad an ANSI code column to ``width`` digits, refusing anything that is not 1..width digits."""
    bad = df.loc[~df[col].str.fullmatch(rf"\d{{1,{width}}}"), col]
    if not bad.empty:
        raise InputError(f"{path}: {_COLUMNS[col][0]} must be 1 to {width} digits; found {_examples(bad)}")
    return df[col].str.zfill(width)


def _years(df: pd.DataFrame, path: str | Path) -> pd.Series:
    """Parse the Year column (four digits)."""
    bad = df.loc[~df["year"].str.fullmatch(r"\d{4}"), "year"]
    if not bad.empty:
        raise InputError(f"{path}: Year must be four digits; found {_examples(bad)}")
    return df["year"].astype(int)


def _numbers(df: pd.DataFrame, col: str, path: str | Path) -> pd.Series:
    """Parse numbers that may carry thousands separators ("1,234.5")."""
    text = df[col].str.replace(",", "", regex=False)
    bad = df.loc[~text.str.fullmatch(r"-?(\d+\.?\d*|\.\d+)"), col]
    if not bad.empty:
        raise InputError(f"{path}: {_COLUMNS[col][0]} is not a number; found {_examples(bad)}")
    return text.astype(float)


def _check_duplicates(out: pd.DataFrame, df: pd.DataFrame, path: str | Path) -> None:
    """Refuse two rows for the same (geoid, year), naming them and the data items involved."""
    dup = out.duplicated(["geoid", "year"], keep=False)
    if dup.any():
        pairs = sorted(set(zip(out.loc[dup, "geoid"], out.loc[dup, "year"], strict=True)))
        items = sorted(set(df.loc[dup, "data_item"]))
        raise InputError(
            f"{path}: {len(pairs)} (geoid, year) pair(s) appear more than once, e.g. {pairs[:5]}; "
            f"data items selected: {items}; likely several data items match, pass one as data_item"
        )


def _examples(bad: pd.Series, n: int = 5) -> str:
    """Format up to ``n`` bad values with their line numbers."""
    shown = ", ".join(f"{v!r} (line {i})" for i, v in bad.head(n).items())
    return shown + (f" and {len(bad) - n} more" if len(bad) > n else "")
