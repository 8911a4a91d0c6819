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

Everything is read as text and converted explicitly. What is refused rather than dropped (the whole
file, with the first few offending rows named by line, county and year), because each means the file
is damaged or the wrong item was exported, and dropping such rows would hide it:

- a malformed line, with more or fewer fields than the header (a cut-short download, a hand edit);
- a Value that is not a number, or a year that is not four digits within 1900-2100;
- a yield outside the plausible range (``plausible_range``; by default 0-150 bu/acre for soybeans,
  0-300 for corn, see :data:`PLAUSIBLE_YIELD`), infinite values (``1`` followed by 400 zeros) included:
  an implausible county yield is almost always a unit or parsing error, not a real harvest.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from geoapp.data.args import as_optional_text, as_path, as_text
from geoapp.errors import DataFileError, InputError

__all__ = [
    "read_quickstats",
    "is_bu_per_acre",
    "DEFAULT_COMMODITY",
    "DEFAULT_DATA_ITEM",
    "PLAUSIBLE_YIELD",
    "PLAUSIBLE_BU_PER_ACRE",
    "YEAR_RANGE",
]

DEFAULT_COMMODITY = "SOYBEANS"
DEFAULT_DATA_ITEM = "SOYBEANS - YIELD, MEASURED IN BU / ACRE"

PLAUSIBLE_YIELD: dict[str, tuple[float, float]] = {
    "SOYBEANS": (0.0, 150.0),
    "CORN": (0.0, 300.0),
    "WHEAT": (0.0, 200.0),
    "SORGHUM": (0.0, 250.0),
    "OATS": (0.0, 250.0),
    "BARLEY": (0.0, 250.0),
}
"""Default plausible county yields in bu/acre per commodity (county averages stay well inside them)."""

PLAUSIBLE_BU_PER_ACRE: tuple[float, float] = (0.0, 300.0)
"""Default plausible range for a bu/acre yield of a commodity not in :data:`PLAUSIBLE_YIELD`."""

YEAR_RANGE: tuple[int, int] = (1900, 2100)
"""Years a Quick Stats row may carry (both included); anything else is a typo or a parsing error."""

# canonical name -> (website header, API header)
_COLUMNS: dict[str, tuple[str, str]] = {
    "program": ("Program", "source_desc"),
    "year": ("Year", "year"),
    "period": ("Period", "reference_period_desc"),
    "geo_level": ("Geo Level", "agg_level_desc"),
    "state_ansi": ("State ANSI", "state_ansi"),
    "state": ("State", "state_name"),
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
    plausible_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Read county yields from a Quick Stats CSV export (website or API spelling).

    Args:
        path: the CSV file.
        commodity: the Commodity to keep, case-insensitive (``"SOYBEANS"``, ``"CORN"``).
        data_item: the Data Item to keep, case-insensitive; ``None`` keeps any item of the commodity
            that is a yield measured in BU / ACRE.
        plausible_range: (lo, hi), both included, in the data item's units: a value outside refuses
            the file. ``None`` takes :data:`PLAUSIBLE_YIELD` for the commodity when the item is in
            BU / ACRE (:data:`PLAUSIBLE_BU_PER_ACRE` for other commodities), and only refuses negative
            or infinite values for items in other units.

    Returns:
        DataFrame with columns ``geoid`` (5-character state + county ANSI), ``year`` (int) and
        ``yield`` (float, bu/acre), one row per (geoid, year), sorted by both.
        ``attrs["dropped"]`` counts the rows dropped per reason; ``attrs["source"]`` is ``str(path)``.

    Raises:
        DataFileError: the file is missing, unreadable, empty, has malformed lines, or is not a
            county-level export.
        InputError: an argument of the wrong type; the selection is empty, or every selected row is withheld
            or dropped (no yield left); a value cannot be parsed, a year is outside 1900-2100, a
            yield is outside ``plausible_range``, or (geoid, year) repeats.
    """
    path = as_path(path, "path")
    commodity = as_text(commodity, "commodity")
    data_item = as_optional_text(data_item, "data_item")
    bounds = _check_range_arg(plausible_range)
    raw = _read_csv(path)
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
    if df.empty:
        counts = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in dropped.items() if n)
        raise InputError(
            f"{path}: no county yield left to read for {commodity!r} (rows dropped: {counts}); every selected row is "
            "withheld, a forecast, not a TOTAL or not a single county: export the county-level yearly values again"
        )

    out = pd.DataFrame(
        {
            "geoid": _ansi(df, "state_ansi", 2, path) + _ansi(df, "county_ansi", 3, path),
            "year": _years(df, path),
            "yield": _numbers(df, "value", path),
        }
    )
    _check_yields(out, df, path, commodity, data_item, bounds)
    _check_duplicates(out, df, path)
    out = out.sort_values(["geoid", "year"]).reset_index(drop=True)
    out.attrs["dropped"] = dropped
    out.attrs["source"] = str(path)
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    """Read the file as text, rename its columns to the canonical names and strip every value.

    The index of the result is each row's line number in the file (the header is line 1).
    """
    header, records, lines = _read_records(path)
    raw = pd.DataFrame(records, columns=[str(c).strip() for c in header], index=lines, dtype=str)
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
    return raw


def _read_records(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, records, the line each record starts on), refusing lines whose field count differs from the header's."""
    records: list[list[str]] = []
    lines: list[int] = []
    ragged: list[tuple[int, int]] = []
    end = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header: list[str] = []
            for fields in reader:
                start, end = end + 1, reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line
                if not header:
                    header = fields
                elif len(fields) != len(header):
                    ragged.append((start, len(fields)))
                else:
                    records.append(fields)
                    lines.append(start)
    except FileNotFoundError as exc:
        raise DataFileError(f"{path}: file not found; expected a Quick Stats CSV export") from exc
    except IsADirectoryError as exc:
        raise DataFileError(f"{path}: is a folder, not a file; expected a Quick Stats CSV export") from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{path}: cannot read as a Quick Stats CSV export: not UTF-8 text ({exc}); export it again, or save it as UTF-8"
        ) from exc
    except csv.Error as exc:
        raise DataFileError(f"{path}: cannot read as a Quick Stats CSV export: line {end + 1}: {exc}") from exc
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read as a Quick Stats CSV export ({exc})") from exc
    if not header:
        raise DataFileError(f"{path}: file is empty; expected a Quick Stats CSV export")
    if ragged:
        shown = ", ".join(f"line {n} has {k}" for n, k in ragged[:5]) + (
            f" and {len(ragged) - 5} more" if len(ragged) > 5 else ""
        )
        raise DataFileError(
            f"{path}: {len(ragged)} malformed line(s) with a different number of fields than the header's "
            f"{len(header)}: {shown}; the file is damaged, cut short or was edited by hand: export or download "
            "it again"
        )
    return header, records, lines


def is_bu_per_acre(data_item: str) -> bool:
    """Whether a Quick Stats Data Item is measured in bushels per acre (``"... MEASURED IN BU / ACRE"``)."""
    return " ".join(data_item.upper().split()).endswith("MEASURED IN BU / ACRE")


def _item_mask(items: pd.Series, data_item: str | None) -> pd.Series:
    """Rows whose Data Item is ``data_item``, or with ``None`` any BU / ACRE yield item of all practices.

    Quick Stats splits some yields by practice ("CORN, GRAIN, IRRIGATED - YIELD, ..." and "NON-IRRIGATED")
    beside the total ("CORN, GRAIN - YIELD, ..."): with ``None``, items that name a practice are left out
    when the file holds an item that names none (else every county-year would appear two or three times).
    """
    upper = items.str.upper()
    if data_item is not None:
        return upper == " ".join(data_item.upper().split())
    mask = upper.str.contains("YIELD", regex=False) & upper.str.endswith("MEASURED IN BU / ACRE")
    practice = upper.str.contains(_PRACTICE, regex=True)
    return mask & ~practice if (mask & ~practice).any() else mask


_PRACTICE = r"\bIRRIGATED\b|\bNON-IRRIGATED\b|\bFOLLOWING ANOTHER CROP\b|\bFOLLOWING SUMMER FALLOW\b"
"""Practice qualifiers of Quick Stats data items (a split of the all-practices total)."""


def _ansi(df: pd.DataFrame, col: str, width: int, path: str | Path) -> pd.Series:
    """Zero-pad an ANSI code column to ``width`` digits, refusing anything that is not 1..width digits."""
    bad = df.loc[~df[col].str.fullmatch(rf"\d{{1,{width}}}"), col]
    if not bad.empty:
        raise InputError(f"{path}: {_COLUMNS[col][0]} must be 1 to {width} digits; found {_examples(bad, df)}")
    return df[col].str.zfill(width)


def _years(df: pd.DataFrame, path: str | Path) -> pd.Series:
    """Parse the Year column (four digits, within :data:`YEAR_RANGE`)."""
    bad = df.loc[~df["year"].str.fullmatch(r"\d{4}"), "year"]
    if not bad.empty:
        raise InputError(f"{path}: Year must be four digits; found {_examples(bad, df)}")
    years = df["year"].astype(int)
    lo, hi = YEAR_RANGE
    bad = df.loc[(years < lo) | (years > hi), "year"]
    if not bad.empty:
        raise InputError(
            f"{path}: {len(bad)} row(s) with a Year outside {lo}-{hi}: {_examples(bad, df)}; "
            "the file is damaged or was edited: fix or remove those rows, or export it again"
        )
    return years


def _numbers(df: pd.DataFrame, col: str, path: str | Path) -> pd.Series:
    """Parse numbers that may carry thousands separators ("1,234.5") or an exponent ("1.2e3").

    A comma counts only as a thousands separator (groups of three digits: "1,234,567"); "1,2" or "12,34"
    are refused, not read as 12 or 1234.
    """
    grouped = df[col].str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?").fillna(False).astype(bool)
    text = df[col].where(~grouped, df[col].str.replace(",", "", regex=False))
    bad = df.loc[~text.str.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"), col]
    if not bad.empty:
        raise InputError(
            f"{path}: {_COLUMNS[col][0]} is not a number; found {_examples(bad, df)}; fix those values (a number, "
            "or (D) for a value withheld), or export the file again"
        )
    return text.astype(float)


def _check_range_arg(plausible_range: tuple[float, float] | None) -> tuple[float, float] | None:
    """``plausible_range`` as two floats with lo < hi (None stays None), or InputError."""
    if plausible_range is None:
        return None
    try:
        lo, hi = (float(v) for v in plausible_range)
    except (TypeError, ValueError) as exc:
        raise InputError(f"plausible_range={plausible_range!r}: expected (lo, hi), e.g. (0, 150)") from exc
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise InputError(f"plausible_range={plausible_range!r}: expected two numbers lo < hi, e.g. (0, 150)")
    return lo, hi


def _default_range(df: pd.DataFrame, commodity: str, data_item: str | None) -> tuple[tuple[float, float], str]:
    """(the plausible range, its units in words) for the selected rows when none was given."""
    items = df["data_item"].str.upper()
    if data_item is None or items.str.endswith("MEASURED IN BU / ACRE").all():
        key = commodity.strip().upper()
        return PLAUSIBLE_YIELD.get(key, PLAUSIBLE_BU_PER_ACRE), "bu/acre"
    return (0.0, math.inf), f"the units of {data_item!r}"


def _check_yields(
    out: pd.DataFrame,
    df: pd.DataFrame,
    path: str | Path,
    commodity: str,
    data_item: str | None,
    bounds: tuple[float, float] | None,
) -> None:
    """Refuse infinite yields and yields outside the plausible range, naming the first few rows."""
    if bounds is None:
        (lo, hi), units = _default_range(df, commodity, data_item)
        how = (
            f"the default for {commodity.strip().upper()}; if the values are right, pass plausible_range=(lo, hi) "
            "(on the command line, --plausible-yield LO,HI)"
        )
    else:
        (lo, hi), units = bounds, "the data item's units"
        how = "the plausible_range given"
    values = out["yield"].to_numpy()
    bad = ~np.isfinite(values) | (values < lo) | (values > hi)
    if not bad.any():
        return
    rows = df.loc[bad, "value"]
    shown = _examples(rows, df, parsed=out.loc[bad, "yield"])
    raise InputError(
        f"{path}: {int(bad.sum())} yield value(s) outside the plausible {lo:g}-{hi:g} ({units}, {how}): {shown}. "
        "An implausible county yield is almost always a unit or parsing error (another data item such as "
        "production or acreage, a misplaced decimal point): check the file's Data Item and those rows"
    )


def _check_duplicates(out: pd.DataFrame, df: pd.DataFrame, path: str | Path) -> None:
    """Refuse two rows for the same (geoid, year), naming them and the data items involved."""
    dup = out.duplicated(["geoid", "year"], keep=False)
    if dup.any():
        pairs = sorted(set(zip(out.loc[dup, "geoid"], out.loc[dup, "year"], strict=True)))
        items = sorted(set(df.loc[dup, "data_item"]))
        raise InputError(
            f"{path}: {len(pairs)} (geoid, year) pair(s) appear more than once, e.g. {pairs[:5]}; "
            f"data items selected: {items}; likely several data items match: keep one data item in the file "
            "(or pass it as data_item when building from Python)"
        )


def _examples(bad: pd.Series, df: pd.DataFrame | None = None, n: int = 5, parsed: pd.Series | None = None) -> str:
    """Format up to ``n`` bad values with their line numbers (and county and year when ``df`` is given)."""
    parts = []
    for line, value in bad.head(n).items():
        text = repr(value if len(value) <= 24 else value[:20] + "...") + (
            f" ({len(value)} characters)" if len(value) > 24 else ""
        )
        if parsed is not None and not math.isfinite(float(parsed.loc[line])):
            text += f" (read as {float(parsed.loc[line])})"
        parts.append(f"{text} ({_where(df, line)})" if df is not None else f"{text} (line {line})")
    shown = ", ".join(parts)
    return shown + (f" and {len(bad) - n} more" if len(bad) > n else "")


def _where(df: pd.DataFrame, line: object) -> str:
    """``line 7, county ADAIR, IOWA, year 2021`` for the row of ``df`` on ``line``."""
    row = df.loc[line]
    county = str(row.get("county", "") or "").strip() or f"county ANSI {row['county_ansi'] or '?'}"
    state = str(row.get("state", "") or "").strip() or f"state ANSI {row['state_ansi'] or '?'}"
    return f"line {line}, county {county}, {state}, year {row['year'] or '?'}"
