"""The raster manifest: a CSV listing a user's rasters (GeoTIFF or NetCDF), one row per raster.

    band,year,month,path
    ndvi,2017,7,modis/ndvi_2017_07.tif
    ppt,2017,7,prism/ppt_2017.nc:ppt
    elevation,,,srtm/elevation_1km.tif

Dynamic bands (ndvi, evi, lst_day, lst_night, ppt) need a year and a month (3..9, March to
September); static bands (elevation, sand, silt, clay) leave both empty. Relative paths are relative to
the manifest's folder. Optional columns: ``layer`` (1-based band index of a multi-band raster, e.g. a
time step of a NetCDF variable), ``scale`` and ``offset`` (value = raw * scale + offset, applied after
the file's own scale/offset, to bring values to the cube's units: NDVI/EVI unitless, temperatures in
degC, precipitation in mm per month, elevation in m, soil fractions 0..1).

A NetCDF variable is named ``file.nc:variable`` or as GDAL does, ``NETCDF:"file.nc":variable``;
:func:`read_manifest` resolves every row to the name GDAL opens.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd

from geoapp.data.args import as_path
from geoapp.data.bands import BAND_INFO, BANDS, MONTHS, STATIC_BANDS
from geoapp.errors import DataFileError, InputError

__all__ = ["MANIFEST_COLUMNS", "OPTIONAL_COLUMNS", "read_manifest"]

MANIFEST_COLUMNS: tuple[str, ...] = ("band", "year", "month", "path")
"""Columns every manifest has."""

OPTIONAL_COLUMNS: tuple[str, ...] = ("layer", "scale", "offset")
"""Columns a manifest may add: 1-based raster band index, and a linear unit conversion."""

NETCDF_GDAL_NAME = re.compile(r'^NETCDF:(?P<q>"?)(?P<file>.+?)(?P=q):(?P<var>[^:"]+)$', re.IGNORECASE)
"""GDAL's name of a NetCDF variable, ``NETCDF:"file.nc":variable`` (the quotes optional)."""
NETCDF_SHORT_NAME = re.compile(r"^(?P<file>.+\.(?:nc|nc4|cdf|netcdf)):(?P<var>[^:/\\]+)$", re.IGNORECASE)
"""The manifest's short form of a NetCDF variable, ``file.nc:variable``."""


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check a raster manifest (CSV).

    Columns ``band,year,month,path`` (see the module docstring; optional ``layer``, ``scale``,
    ``offset``). Band names are case-insensitive. Every problem found is reported at once, each with
    its line number in the file (the header is line 1) and the offending value.

    Returns:
        One row per raster, in file order, with columns ``line`` (int), ``band`` (str), ``year`` and
        ``month`` (Int64, NA for static bands), ``path`` (absolute path of the file), ``source`` (what
        GDAL opens: the path, or ``NETCDF:"path":variable``), ``layer`` (Int64, NA when not given),
        ``scale`` and ``offset`` (float).

    Raises:
        DataFileError: the manifest cannot be read, or only raster files are missing.
        InputError: any other problem (unknown band, bad year or month, duplicate slot, ...).
    """
    path = as_path(path, "path")
    table = _read_csv(path)
    problems: list[str] = []
    only_missing_files = True
    rows: list[dict[str, object]] = []
    seen: dict[tuple[str, int | None, int | None], int] = {}
    for i, rec in enumerate(table.to_dict("records")):
        line = i + 2
        errs, missing_file, row = _check_row(rec, line, path.parent)
        problems.extend(errs)
        only_missing_files &= missing_file or not errs
        if row is None:
            continue
        key = (str(row["band"]), opt_int(row["year"]), opt_int(row["month"]))
        if key in seen:
            slot = key[0] if key[1] is None else f"{key[0]} {key[1]} month {key[2]}"
            problems.append(f"line {line}: duplicate slot {slot} (already given on line {seen[key]})")
            only_missing_files = False
            continue
        seen[key] = line
        rows.append(row)
    if problems:
        head = f"manifest {str(path)!r}"
        msg = (
            f"{head} {problems[0]}" if len(problems) == 1 else f"{head} has {len(problems)} problems:\n  " + "\n  ".join(problems)
        )
        raise (DataFileError if only_missing_files else InputError)(msg)
    df = pd.DataFrame(rows, columns=["line", "band", "year", "month", "path", "source", "layer", "scale", "offset"])
    for col in ("year", "month", "layer"):
        df[col] = df[col].astype("Int64")
    df["line"] = df["line"].astype(int)
    return df


def _read_csv(path: Path) -> pd.DataFrame:
    """The manifest as strings, column names lower-cased; checks columns and that it has rows."""
    if path.is_dir():
        raise DataFileError(f"manifest {str(path)!r} is a folder; give the manifest CSV file (band,year,month,path)")
    if not path.is_file():
        raise DataFileError(f"manifest {str(path)!r} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFileError(f"cannot read manifest {str(path)!r} as CSV: {exc}") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    absent = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    unknown = [c for c in table.columns if c not in MANIFEST_COLUMNS + OPTIONAL_COLUMNS]
    if absent or unknown:
        raise InputError(
            f"manifest {str(path)!r} has columns {list(table.columns)!r}: "
            + (f"missing {absent!r}; " if absent else "")
            + (f"unknown {unknown!r}; " if unknown else "")
            + f"expected {list(MANIFEST_COLUMNS)!r} and optionally {list(OPTIONAL_COLUMNS)!r}"
        )
    if table.empty:
        raise InputError(f"manifest {str(path)!r} lists no rasters (only a header)")
    return table.map(lambda v: str(v).strip())


def _check_row(rec: dict[str, str], line: int, base: Path) -> tuple[list[str], bool, dict[str, object] | None]:
    """Check one manifest row. Returns (problems, True if the only problem is a missing file, row or None)."""
    errs: list[str] = []
    band = rec["band"].lower()
    if band not in BAND_INFO:
        errs.append(f"line {line}: unknown band {rec['band']!r}; expected one of {list(BANDS)!r}")
    static = band in STATIC_BANDS
    year = _parse_int(rec["year"], "year", line, errs)
    month = _parse_int(rec["month"], "month", line, errs)
    if band in BAND_INFO and static and (rec["year"] or rec["month"]):
        errs.append(
            f"line {line}: band {band!r} is static (one map for all years), but year {rec['year']!r} / "
            f"month {rec['month']!r} is given; leave both empty"
        )
    if band in BAND_INFO and not static and (not rec["year"] or not rec["month"]):
        errs.append(
            f"line {line}: band {band!r} varies by year and month; give both (year {rec['year']!r}, month {rec['month']!r})"
        )
    if year is not None and not 1900 <= year <= 2100:
        errs.append(f"line {line}: year {year} is not a plausible calendar year")
    if month is not None and month not in MONTHS:
        errs.append(f"line {line}: month {month} is outside the growing season, March (3) to September (9)")
    layer = _parse_int(rec.get("layer", ""), "layer", line, errs)
    if layer is not None and layer < 1:
        errs.append(f"line {line}: layer {layer} must be 1 or more (raster bands count from 1)")
    scale = _parse_float(rec.get("scale", ""), "scale", 1.0, line, errs)
    offset = _parse_float(rec.get("offset", ""), "offset", 0.0, line, errs)
    if scale == 0.0:
        errs.append(f"line {line}: scale 0 would erase every value")
    n_format_errs = len(errs)
    file_path, source = _resolve_path(rec["path"], line, base, errs)
    missing_file = len(errs) > n_format_errs and n_format_errs == 0
    if errs:
        return errs, missing_file, None
    row = {
        "line": line,
        "band": band,
        "year": None if static else year,
        "month": None if static else month,
        "path": str(file_path),
        "source": source,
        "layer": layer,
        "scale": scale,
        "offset": offset,
    }
    return errs, False, row


def _parse_int(text: str, what: str, line: int, errs: list[str]) -> int | None:
    """``text`` as an int (None when empty); appends a problem when it is not a whole number."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value)):
        errs.append(f"line {line}: {what} {text!r} is not a whole number")
        return None
    return int(value)


def _parse_float(text: str, what: str, default: float, line: int, errs: list[str]) -> float:
    """``text`` as a finite float (``default`` when empty); appends a problem otherwise."""
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        errs.append(f"line {line}: {what} {text!r} is not a number")
        return default
    return value


def opt_int(value: object) -> int | None:
    """``value`` as an int, or None for None / pandas NA."""
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


def _resolve_path(text: str, line: int, base: Path, errs: list[str]) -> tuple[Path | None, str]:
    """The raster file and the GDAL name to open, accepting ``f.nc:var`` and ``NETCDF:"f.nc":var``.

    A relative file is taken relative to ``base`` (the manifest's folder). Appends a problem when the
    path is empty or the file does not exist.
    """
    if not text:
        errs.append(f"line {line}: path is empty")
        return None, ""
    variable = None
    file_text = text
    m = NETCDF_GDAL_NAME.match(text) or (None if (base / text).is_file() else NETCDF_SHORT_NAME.match(text))
    if m:
        file_text, variable = m["file"], m["var"]
    file_path = Path(file_text).expanduser()
    if not file_path.is_absolute():
        file_path = base / file_path
    file_path = file_path.resolve()
    if file_path.is_dir():
        errs.append(f"line {line}: raster path {file_text!r} is a folder ({str(file_path)!r}); give a raster file in it")
        return None, ""
    if not file_path.is_file():
        errs.append(f"line {line}: raster file {file_text!r} not found (looked for {str(file_path)!r})")
        return None, ""
    source = f'NETCDF:"{file_path}":{variable}' if variable else str(file_path)
    return file_path, source


def short_name(source: str) -> str:
    """The file name of a raster path or GDAL NetCDF name, with the variable if any."""
    m = NETCDF_GDAL_NAME.match(source)
    if m:
        return f"{Path(m['file']).name}:{m['var']}"
    return Path(source).name
