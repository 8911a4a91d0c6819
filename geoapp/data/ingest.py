"""Build a cube from a user's own rasters (GeoTIFF or NetCDF), listed in a CSV manifest.

A manifest has one row per raster:

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

:func:`ingest_manifest` reprojects every raster onto the cube grid (EPSG:5070 metres; by default the
13-state study area from :func:`geoapp.data.study_area.study_area_grid`) with GDAL through
``rasterio.warp.reproject``: ``average`` resampling when the source pixels are finer than the grid,
``bilinear`` otherwise. Source nodata, masked pixels and NaN become NaN. Slots with no raster stay NaN
and are listed in the returned :class:`IngestReport`. The cube is written with
:func:`geoapp.data.cube.save_cube`, atomically: a failure leaves no file (and any previous file as it
was).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS as RioCRS
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.warp import transform as transform_points
from rasterio.windows import Window
from tqdm.auto import tqdm

from geoapp.data.bands import BAND_INFO, BANDS, DYNAMIC_BANDS, MONTH_NAMES, MONTHS, STATIC_BANDS
from geoapp.data.cube import PACKING, empty_cube, save_cube
from geoapp.data.grid import Grid
from geoapp.data.study_area import study_area_grid
from geoapp.errors import CRSError, DataFileError, GeoappError, InputError

__all__ = [
    "MANIFEST_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PLAUSIBLE_RANGE",
    "SlotStatus",
    "IngestReport",
    "read_manifest",
    "ingest_manifest",
]

MANIFEST_COLUMNS: tuple[str, ...] = ("band", "year", "month", "path")
"""Columns every manifest has."""

OPTIONAL_COLUMNS: tuple[str, ...] = ("layer", "scale", "offset")
"""Columns a manifest may add: 1-based raster band index, and a linear unit conversion."""

PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "ndvi": (-1.0, 1.0),
    "evi": (-1.0, 1.0),
    "lst_day": (-60.0, 80.0),
    "lst_night": (-60.0, 80.0),
    "ppt": (0.0, 2000.0),
    "elevation": (-100.0, 5000.0),
    "sand": (0.0, 1.0),
    "silt": (0.0, 1.0),
    "clay": (0.0, 1.0),
}
"""Physically plausible values per band, in cube units; more than 1% of pixels outside warns."""

UNIT_HINTS: dict[str, str] = {
    "ndvi": "NDVI is unitless, -1..1 (MODIS stores NDVI x 10000: use scale 0.0001)",
    "evi": "EVI is unitless, -1..1 (MODIS stores EVI x 10000: use scale 0.0001)",
    "lst_day": "temperatures are in degC (MODIS LST is kelvin x 50: use scale 0.02, offset -273.15)",
    "lst_night": "temperatures are in degC (MODIS LST is kelvin x 50: use scale 0.02, offset -273.15)",
    "ppt": "precipitation is in mm per month",
    "elevation": "elevation is in metres (feet: use scale 0.3048)",
    "sand": "soil fractions are 0..1 (percent: use scale 0.01)",
    "silt": "soil fractions are 0..1 (percent: use scale 0.01)",
    "clay": "soil fractions are 0..1 (percent: use scale 0.01)",
}
"""What the cube expects for each band, with the usual conversion, for error messages."""

MAX_READ_PIXELS = 2**25
"""Largest source window read into memory at full resolution (about 134 MB as float32).

A larger window (e.g. a 30 m SRTM mosaic for a 4 km grid) is read in strips and block-averaged by an
integer factor first, never coarser than a quarter of a grid pixel.
"""

_NETCDF_GDAL = re.compile(r'^NETCDF:(?P<q>"?)(?P<file>.+?)(?P=q):(?P<var>[^:"]+)$', re.IGNORECASE)
_NETCDF_SHORT = re.compile(r"^(?P<file>.+\.(?:nc|nc4|cdf|netcdf)):(?P<var>[^:/\\]+)$", re.IGNORECASE)


# ---- report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotStatus:
    """One (band, year, month) slot of the cube and what filled it.

    Attributes:
        band: band name.
        year, month: calendar year and month (3..9); None for a static band.
        filled: True when a raster was ingested into the slot.
        path: the raster (GDAL name, e.g. ``NETCDF:"f.nc":ppt`` for a NetCDF variable), None if missing.
        nan_fraction: fraction (0..1) of grid pixels left NaN after reprojection; None if missing.
        resampling: ``"average"`` or ``"bilinear"``; None if missing.
        source_crs: the raster's CRS (e.g. ``"EPSG:4326"``); None if missing.
    """

    band: str
    year: int | None
    month: int | None
    filled: bool
    path: str | None = None
    nan_fraction: float | None = None
    resampling: str | None = None
    source_crs: str | None = None

    def label(self) -> str:
        """Short name such as ``"ppt 2017 Aug"`` or ``"elevation (static)"``."""
        if self.year is None or self.month is None:
            return f"{self.band} (static)"
        return f"{self.band} {self.year} {MONTH_NAMES[self.month]}"


@dataclass
class IngestReport:
    """What :func:`ingest_manifest` wrote: every slot of the cube, filled or not, and any warnings.

    Attributes:
        manifest_path: the manifest read.
        out_path: the cube written (NetCDF).
        grid: the cube's grid (CRS, resolution in metres, bounds in metres).
        years: the cube's years (those named in the manifest).
        slots: every slot in cube order: bands in :data:`BANDS` order, then year, then month.
        warnings: messages about rasters that were ingested but look doubtful.
    """

    manifest_path: Path
    out_path: Path
    grid: Grid
    years: tuple[int, ...]
    slots: tuple[SlotStatus, ...]
    warnings: list[str] = field(default_factory=list)

    @property
    def filled(self) -> list[SlotStatus]:
        """Slots a raster was ingested into."""
        return [s for s in self.slots if s.filled]

    @property
    def missing(self) -> list[SlotStatus]:
        """Slots no raster was given for; they hold NaN in the cube."""
        return [s for s in self.slots if not s.filled]

    def to_frame(self) -> pd.DataFrame:
        """Every slot as a table: band, year, month, filled, path, nan_fraction, resampling, source_crs."""
        rows = [s.__dict__ for s in self.slots]
        df = pd.DataFrame(rows, columns=list(SlotStatus.__dataclass_fields__))
        df["year"] = df["year"].astype("Int64")
        df["month"] = df["month"].astype("Int64")
        return df

    def summary(self, max_rows: int = 40) -> str:
        """A plain-text account for the command line: cube, missing slots, NaN per raster, warnings.

        Args:
            max_rows: most rasters listed one per line; the rest are counted.
        """
        g = self.grid
        n_years = len(self.years)
        years = f"{self.years[0]}-{self.years[-1]}" if n_years > 1 else str(self.years[0])
        lines = [
            f"Wrote {self.out_path} from {self.manifest_path.name}: grid {g.crs} at "
            f"{g.resolution_m / 1000:g} km, {g.width} x {g.height} px; years {years} ({n_years}).",
            f"Filled {len(self.filled)} of {len(self.slots)} slots "
            f"({len(DYNAMIC_BANDS)} dynamic bands x {n_years} year{'s' if n_years != 1 else ''} x {len(MONTHS)} months "
            f"+ {len(STATIC_BANDS)} static bands).",
        ]
        missing = _describe_missing(self.missing)
        if missing:
            lines.append(f"Missing slots ({len(self.missing)}, left NaN):")
            lines.extend(f"  {m}" for m in missing)
        else:
            lines.append("No missing slots.")
        if self.filled:
            lines.append("NaN pixels per raster (share of the grid left empty):")
            for s in self.filled[:max_rows]:
                lines.append(
                    f"  {s.label():<22} {100 * (s.nan_fraction or 0.0):5.1f}%  "
                    f"{s.resampling} from {s.source_crs}  {_short_name(s.path or '')}"
                )
            if len(self.filled) > max_rows:
                lines.append(f"  ... and {len(self.filled) - max_rows} more (see IngestReport.to_frame())")
        if self.warnings:
            lines.append(f"Warnings ({len(self.warnings)}):")
            lines.extend(f"  {w}" for w in self.warnings)
        return "\n".join(lines)


def _describe_missing(missing: list[SlotStatus]) -> list[str]:
    """Missing slots grouped per band and year, e.g. ``"ppt 2017: Aug"``, ``"ndvi 2016: all months"``."""
    out: list[str] = []
    static = [s.band for s in missing if s.year is None]
    by_band_year: dict[tuple[str, int], list[int]] = {}
    for s in missing:
        if s.year is not None and s.month is not None:
            by_band_year.setdefault((s.band, s.year), []).append(s.month)
    for (band, year), months in by_band_year.items():
        what = "all months" if len(months) == len(MONTHS) else ", ".join(MONTH_NAMES[m] for m in months)
        out.append(f"{band} {year}: {what}")
    if static:
        out.append(f"{', '.join(static)} (static)")
    return out


def _short_name(source: str) -> str:
    """The file name of a raster path or GDAL NetCDF name, with the variable if any."""
    m = _NETCDF_GDAL.match(source)
    if m:
        return f"{Path(m['file']).name}:{m['var']}"
    return Path(source).name


# ---- manifest -------------------------------------------------------------------------------


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
    path = Path(path)
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
        key = (str(row["band"]), _opt_int(row["year"]), _opt_int(row["month"]))
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


def _opt_int(value: object) -> int | None:
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
    m = _NETCDF_GDAL.match(text) or (None if (base / text).is_file() else _NETCDF_SHORT.match(text))
    if m:
        file_text, variable = m["file"], m["var"]
    file_path = Path(file_text).expanduser()
    if not file_path.is_absolute():
        file_path = base / file_path
    file_path = file_path.resolve()
    if not file_path.is_file():
        errs.append(f"line {line}: raster file {file_text!r} not found (looked for {str(file_path)!r})")
        return None, ""
    source = f'NETCDF:"{file_path}":{variable}' if variable else str(file_path)
    return file_path, source


# ---- ingest -------------------------------------------------------------------------------


def ingest_manifest(
    manifest_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    grid: Grid | None = None,
    resolution_m: float = 4000.0,
    title: str | None = None,
    progress: bool = True,
) -> IngestReport:
    """Reproject every raster in a manifest onto one grid and save the cube as NetCDF.

    Args:
        manifest_path: CSV manifest (see :func:`read_manifest`).
        out_path: NetCDF file to write (replaced atomically; untouched when ingesting fails).
        grid: target grid; None for the 13-state study area in EPSG:5070 at ``resolution_m``.
        resolution_m: pixel size in metres of the default grid (ignored when ``grid`` is given).
        title: the cube's title (default: names the manifest).
        progress: show a progress bar over rasters (on stderr).

    Returns:
        An :class:`IngestReport`: every slot filled or missing, NaN fraction per raster, warnings.

    Raises:
        InputError: a bad manifest, a raster left all-NaN over the grid, values the cube cannot store.
        CRSError: a raster without a CRS, or one that does not overlap the grid.
        DataFileError: a missing, unreadable or garbled raster (or manifest).
    """
    manifest_path = Path(manifest_path)
    out_path = Path(out_path)
    table = read_manifest(manifest_path)
    years = sorted({int(y) for y in table["year"].dropna()})
    if not years:
        raise InputError(
            f"manifest {str(manifest_path)!r} has only static bands; a cube needs at least one year of "
            f"a dynamic band ({', '.join(DYNAMIC_BANDS)})"
        )
    grid = grid if grid is not None else study_area_grid(resolution_m)
    title = title or f"Cube ingested from {manifest_path.name}"
    cube = empty_cube(grid, years, title, simulated=False)
    cube.attrs["source_manifest"] = str(manifest_path.resolve())

    results: dict[tuple[str, int | None, int | None], SlotStatus] = {}
    notes: list[str] = []
    rows = table.to_dict("records")
    for row in tqdm(rows, desc="ingesting rasters", unit="raster", disable=not progress):
        values, status, row_notes = _ingest_row(row, grid)
        notes.extend(row_notes)
        band = status.band
        if status.year is None:
            cube[band].values[...] = values
        else:
            cube[band].values[years.index(status.year), MONTHS.index(status.month)] = values
        results[(band, status.year, status.month)] = status

    save_cube(cube, out_path)
    slots = tuple(results.get(key, SlotStatus(*key, filled=False)) for key in _all_slots(years))
    return IngestReport(manifest_path, out_path, grid, tuple(years), slots, notes)


def _all_slots(years: list[int]) -> Iterator[tuple[str, int | None, int | None]]:
    """Every (band, year, month) of a cube in cube order; (band, None, None) for static bands."""
    for band in BANDS:
        if band in STATIC_BANDS:
            yield band, None, None
        else:
            for year in years:
                for month in MONTHS:
                    yield band, year, month


def _ingest_row(row: dict[str, object], grid: Grid) -> tuple[np.ndarray, SlotStatus, list[str]]:
    """Reproject one manifest row's raster onto ``grid`` and check its values.

    Returns:
        (values float32 of ``grid.shape`` in cube units with NaN for no data, the slot's status, warnings).
    """
    source = str(row["source"])
    where = f"raster {_short_name(source)!r} (manifest line {row['line']}, {str(row['path'])!r})"
    band = str(row["band"])
    notes: list[str] = []
    with _open_raster(source, where) as src:
        layer = _pick_layer(src, _opt_int(row["layer"]), where, notes)
        if src.crs is None:
            name = Path(str(row["path"])).name
            fix = (
                f"add a CF grid_mapping variable (with rioxarray: ds.rio.write_crs('EPSG:4326').to_netcdf(...)) or "
                f"convert it, e.g. `gdal_translate -a_srs EPSG:4326 {name} fixed.tif`"
                if src.driver == "netCDF"
                else f"e.g. `gdal_edit.py -a_srs EPSG:4326 {name}` writes one into a GeoTIFF"
            )
            raise CRSError(
                f"{where} has no CRS, so geoapp cannot tell where it lies. Embed one (GeoTIFF georeferencing, a "
                f"NetCDF grid_mapping variable) or put a .prj or .aux.xml file beside it; {fix}"
            )
        src_crs = src.crs
        window = _window_over_grid(src, grid, where)
        pixel_m = _source_pixel_size_m(src, window, grid)
        resampling = Resampling.average if pixel_m < grid.resolution_m else Resampling.bilinear
        factor = _decimation_factor(window, pixel_m, grid.resolution_m)
        data, transform = _read_window(src, layer, window, factor)
        scale = float(src.scales[layer - 1] or 1.0) * float(row["scale"])  # type: ignore[arg-type]
        offset = float(src.offsets[layer - 1] or 0.0) * float(row["scale"]) + float(row["offset"])  # type: ignore[arg-type]

    values = np.full(grid.shape, np.nan, dtype=np.float32)
    try:
        reproject(
            source=data,
            destination=values,
            src_transform=transform,
            src_crs=src_crs,
            src_nodata=np.nan,
            dst_transform=grid.transform,
            dst_crs=RioCRS.from_user_input(grid.crs),
            dst_nodata=np.nan,
            resampling=resampling,
        )
    except rasterio.errors.RasterioError as exc:
        raise CRSError(f"{where}: cannot reproject from {_crs_name(src_crs)} to the grid's {grid.crs}: {exc}") from exc
    # average and bilinear are weighted means with weights summing to 1, so scaling after warping
    # gives the same result as scaling first.
    if scale != 1.0 or offset != 0.0:
        values = (values * np.float32(scale) + np.float32(offset)).astype(np.float32)
    nan_fraction = float(np.isnan(values).mean())
    if nan_fraction == 1.0:
        raise InputError(
            f"{where} has no valid pixel over the grid after reprojection (all nodata/NaN); check its "
            f"nodata value and that it covers the study area"
        )
    _check_values(values, band, where, notes)
    status = SlotStatus(
        band,
        _opt_int(row["year"]),
        _opt_int(row["month"]),
        filled=True,
        path=source,
        nan_fraction=nan_fraction,
        resampling=resampling.name,
        source_crs=_crs_name(src_crs),
    )
    return values, status, notes


@contextmanager
def _open_raster(source: str, where: str) -> Iterator[rasterio.io.DatasetReader]:
    """Open ``source`` with rasterio; GDAL/IO failures (also while reading) become DataFileError."""
    try:
        with warnings.catch_warnings():
            # a raster without georeferencing gets geoapp's own CRSError below, with advice
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(source)
        with src:
            yield src
    except GeoappError:
        raise
    except (rasterio.errors.RasterioError, OSError) as exc:
        hint = "is it a GeoTIFF or NetCDF file?"
        m = _NETCDF_GDAL.match(source)
        if m:
            hint = f"does the NetCDF file have a variable {m['var']!r}? {_netcdf_variables_hint(m['file'])}"
        raise DataFileError(f"cannot read {where}: {exc}; {hint}") from exc


def _netcdf_variables_hint(file: str) -> str:
    """``"It has: a, b"`` listing a NetCDF file's raster variables, or ``""`` if it cannot be opened."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            src = rasterio.open(file)
        with src:
            names = [s.rsplit(":", 1)[-1] for s in src.subdatasets] or [str(d) for d in src.descriptions if d]
    except Exception:  # noqa: BLE001 - only a hint for a message
        return ""
    return f"It has: {', '.join(names)}" if names else ""


def _pick_layer(src: rasterio.io.DatasetReader, layer: int | None, where: str, notes: list[str]) -> int:
    """The 1-based band index to read: the manifest's ``layer``, else 1 (warning if there are several)."""
    if src.count == 0:
        names = [s.rsplit(":", 1)[-1] for s in src.subdatasets]
        raise InputError(
            f"{where} holds several variables ({', '.join(names) or 'none readable'}); name one in the manifest "
            f"as file.nc:variable"
        )
    if layer is None:
        if src.count > 1:
            msg = f"{where} has {src.count} bands; using band 1 (add a 'layer' column to the manifest to pick another)"
            warnings.warn(msg, UserWarning, stacklevel=4)
            notes.append(msg)
        return 1
    if layer > src.count:
        raise InputError(f"{where}: layer {layer} asked for, but the raster has only {src.count} band(s)")
    return layer


def _window_over_grid(src: rasterio.io.DatasetReader, grid: Grid, where: str) -> Window:
    """The source pixels covering the grid (plus 2 pixels for bilinear), clipped to the raster.

    Raises:
        CRSError: the raster's footprint and the grid do not overlap.
    """
    grid_bounds = (grid.xmin, grid.ymin, grid.xmax, grid.ymax)
    try:
        gx0, gy0, gx1, gy1 = transform_bounds(grid.crs, src.crs, *grid_bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - PROJ raises several types for points outside a projection's domain
        gx0 = gy0 = gx1 = gy1 = math.nan
    sx0, sy0, sx1, sy1 = src.bounds
    overlap = (
        all(math.isfinite(v) for v in (gx0, gy0, gx1, gy1)) and min(gx1, sx1) > max(gx0, sx0) and min(gy1, sy1) > max(gy0, sy0)
    )
    if not overlap:
        hint = ""
        if src.crs.is_geographic and sx1 > 180:
            hint = " Its longitudes run 0..360; shift them to -180..180 first (e.g. gdalwarp --config CENTER_LONG 0)."
        raise CRSError(
            f"{where}: no overlap with the cube grid; do the CRSs match? The raster covers "
            f"{_fmt_bounds((sx0, sy0, sx1, sy1))} in {_crs_name(src.crs)}; the grid covers "
            f"{_fmt_bounds(grid_bounds)} in {grid.crs}, which is {_fmt_bounds((gx0, gy0, gx1, gy1))} in the "
            f"raster's CRS. A raster in metres labelled EPSG:4326 (or the reverse) lands far away.{hint}"
        )
    inv = ~src.transform
    corners = [inv @ (x, y) for x in (max(gx0, sx0), min(gx1, sx1)) for y in (max(gy0, sy0), min(gy1, sy1))]
    cols = [c for c, _ in corners]
    rows = [r for _, r in corners]
    c0 = max(0, math.floor(min(cols)) - 2)
    r0 = max(0, math.floor(min(rows)) - 2)
    c1 = min(src.width, math.ceil(max(cols)) + 2)
    r1 = min(src.height, math.ceil(max(rows)) + 2)
    return Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))


def _crs_name(crs: RioCRS) -> str:
    """``"EPSG:4326"`` when the CRS has an EPSG code, else the start of its description."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]


def _fmt_bounds(b: tuple[float, float, float, float]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in b) + ")"


def _source_pixel_size_m(src: rasterio.io.DatasetReader, window: Window, grid: Grid) -> float:
    """Size of one source pixel in grid metres (geometric mean of width and height) at the window centre."""
    t = src.transform
    col = window.col_off + window.width / 2
    row = window.row_off + window.height / 2
    pts = [t @ (col, row), t @ (col + 1, row), t @ (col, row + 1)]
    xs, ys = transform_points(src.crs, grid.crs, [p[0] for p in pts], [p[1] for p in pts])
    dx = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
    dy = math.hypot(xs[2] - xs[0], ys[2] - ys[0])
    size = math.sqrt(dx * dy)
    return size if math.isfinite(size) and size > 0 else grid.resolution_m


def _decimation_factor(window: Window, pixel_m: float, grid_res_m: float) -> int:
    """Integer block size to average the source by before warping (1: read at full resolution)."""
    n = float(window.width) * float(window.height)
    if n <= MAX_READ_PIXELS:
        return 1
    for_memory = math.ceil(math.sqrt(n / MAX_READ_PIXELS))
    for_quality = math.floor(grid_res_m / (4.0 * pixel_m))
    return max(1, min(for_memory, for_quality))


def _read_window(src: rasterio.io.DatasetReader, layer: int, window: Window, factor: int) -> tuple[np.ndarray, Affine]:
    """Band ``layer`` over ``window`` as float32, NaN where masked/nodata/NaN, block-averaged by ``factor``.

    The window's start is moved back to a multiple of ``factor`` so that blocks follow the raster's own
    lattice (a source aligned with the grid then gives blocks that never straddle two grid pixels).

    Returns:
        (array, its affine transform in the source CRS). Values are raw (no scale/offset applied).
    """
    if factor > 1:
        c0, r0 = int(window.col_off) // factor * factor, int(window.row_off) // factor * factor
        window = Window(c0, r0, window.width + window.col_off - c0, window.height + window.row_off - r0)
    h, w = int(window.height), int(window.width)
    out_h, out_w = -(-h // factor), -(-w // factor)
    out = np.empty((out_h, out_w), dtype=np.float32)
    strip = max(factor, (MAX_READ_PIXELS // max(w, 1)) // factor * factor)
    for r in range(0, h, strip):
        win = Window(window.col_off, window.row_off + r, w, min(strip, h - r))
        data = src.read(layer, window=win).astype(np.float32, copy=False)
        mask = src.read_masks(layer, window=win)
        data = np.where(mask == 0, np.float32(np.nan), data)
        out[r // factor : r // factor + -(-data.shape[0] // factor)] = _block_mean(data, factor)
    transform = src.transform @ Affine.translation(window.col_off, window.row_off) @ Affine.scale(factor)
    return out, transform


def _block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Mean of the non-NaN values in each ``factor`` x ``factor`` block (NaN if none); pads with NaN."""
    if factor == 1:
        return data
    h, w = data.shape
    ph, pw = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.full((ph, pw), np.nan, dtype=np.float32)
    padded[:h, :w] = data
    blocks = padded.reshape(ph // factor, factor, pw // factor, factor)
    valid = ~np.isnan(blocks)
    count = valid.sum(axis=(1, 3))
    total = np.where(valid, blocks, 0.0).sum(axis=(1, 3), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def _check_values(values: np.ndarray, band: str, where: str, notes: list[str]) -> None:
    """Raise if values fall outside what the cube's int16 packing can store; warn if implausible."""
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    units = BAND_INFO[band].units
    scale, offset = PACKING[band]
    store_lo, store_hi = offset - 32767 * scale, offset + 32767 * scale
    if lo < store_lo or hi > store_hi:
        raise InputError(
            f"{where}: {band} values span {lo:.6g}..{hi:.6g} (units {units!r}) over the grid, outside what the "
            f"cube can store ({store_lo:.6g}..{store_hi:.6g}). {UNIT_HINTS[band]}; set the manifest's scale/offset "
            f"columns to convert."
        )
    p_lo, p_hi = PLAUSIBLE_RANGE[band]
    outside = float(((finite < p_lo) | (finite > p_hi)).mean())
    if outside > 0.01:
        msg = (
            f"{where}: {100 * outside:.1f}% of {band} values lie outside the plausible {p_lo:g}..{p_hi:g} "
            f"(range {lo:.4g}..{hi:.4g}); {UNIT_HINTS[band]}"
        )
        warnings.warn(msg, UserWarning, stacklevel=4)
        notes.append(msg)
