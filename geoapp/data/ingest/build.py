"""Build a cube from a manifest's rasters: reproject each onto the grid, check it, save, report.

:func:`ingest_manifest` reprojects every raster of a manifest (:mod:`geoapp.data.ingest.manifest`)
onto the cube grid (EPSG:5070 metres; by default the 13-state study area from
:func:`geoapp.data.study_area.study_area_grid`) through :mod:`geoapp.data.ingest.reproject`, applies
the manifest's unit conversion, refuses values the cube cannot store and warns about implausible ones.
Slots with no raster stay NaN and are listed in the returned :class:`~geoapp.data.ingest.report.IngestReport`.
Rasters are reprojected in parallel with dask, one task per manifest row, i.e. per (band, year,
month) slot (:func:`geoapp.data.parallel.run_tasks`: local threads, or an existing dask.distributed
cluster whose workers read the rasters at the manifest's paths), and each slot is written as it
arrives through :class:`geoapp.data.cube_store.CubeWriter` (tile-sized chunks), so memory holds a few
slots, never the cube. The file is written atomically: a failure leaves no file (and any previous
file as it was).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from geoapp.data.args import as_number, as_optional_text, as_path
from geoapp.data.bands import BAND_INFO, BANDS, DYNAMIC_BANDS, MONTHS, STATIC_BANDS
from geoapp.data.cube import PACKING, open_cube
from geoapp.data.cube_store import CubeWriter
from geoapp.data.dataset import CARD
from geoapp.data.fingerprint import DATA_FILES
from geoapp.data.grid import Grid
from geoapp.data.ingest.manifest import opt_int, read_manifest, short_name
from geoapp.data.ingest.report import IngestReport, SlotStatus
from geoapp.data.ingest.reproject import reproject_raster
from geoapp.data.parallel import probe_scheduler, run_tasks
from geoapp.data.study_area import study_area_grid
from geoapp.errors import DataFileError, InputError
from geoapp.fileio import check_writable, remove_stale_temporaries

__all__ = ["PLAUSIBLE_RANGE", "UNIT_HINTS", "ingest_manifest"]

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

PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "ndvi": (-1.0, 1.0),
    "evi": (-1.0, 1.0),
    "lst_day": (-100.0, 100.0),
    "lst_night": (-100.0, 100.0),
    "ppt": (0.0, 10000.0),
    "elevation": (-500.0, 9000.0),
    "sand": (0.0, 1.0),
    "silt": (0.0, 1.0),
    "clay": (0.0, 1.0),
}
"""Values no correct raster of the band can hold, in cube units; any pixel outside refuses the raster.

NDVI/EVI are ratios within -1..1 and soil fractions within 0..1; no land surface is colder than -100 or
hotter than 100 degC, no month has negative or more than 10 m of rain, no land lies below -500 m or above
9,000 m. Values beyond these are a unit or scale error, or a fill value not declared as nodata.
"""

_CONVERSIONS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "ndvi": (("NDVI x 10000 (as MODIS stores it)", 1e-4, 0.0), ("NDVI x 1000", 1e-3, 0.0), ("percent", 0.01, 0.0)),
    "evi": (("EVI x 10000 (as MODIS stores it)", 1e-4, 0.0), ("EVI x 1000", 1e-3, 0.0), ("percent", 0.01, 0.0)),
    "lst_day": (
        ("kelvin", 1.0, -273.15),
        ("kelvin x 50 (as MODIS stores LST)", 0.02, -273.15),
        ("tenths of a degC", 0.1, 0.0),
        ("hundredths of a degC", 0.01, 0.0),
    ),
    "ppt": (("tenths of a mm", 0.1, 0.0), ("hundredths of a mm", 0.01, 0.0)),
    "elevation": (("decimetres", 0.1, 0.0), ("centimetres", 0.01, 0.0)),
    "sand": (("percent", 0.01, 0.0), ("g/kg (as SoilGrids stores it)", 0.001, 0.0)),
}
"""Usual unit mistakes per band: (what the values look like, scale, offset that bring them to cube units)."""
_CONVERSIONS["lst_night"] = _CONVERSIONS["lst_day"]
_CONVERSIONS["silt"] = _CONVERSIONS["clay"] = _CONVERSIONS["sand"]

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


def ingest_manifest(
    manifest_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    grid: Grid | None = None,
    resolution_m: float = 4000.0,
    title: str | None = None,
    progress: bool = True,
    scheduler: str | None = None,
    source_label: str | None = None,
) -> IngestReport:
    """Reproject every raster in a manifest onto one grid and save the cube as NetCDF.

    Args:
        manifest_path: CSV manifest (see :func:`read_manifest`).
        out_path: NetCDF file to write (replaced atomically; untouched when ingesting fails).
        grid: target grid; None for the 13-state study area in EPSG:5070 at ``resolution_m``.
        resolution_m: pixel size in metres of the default grid (ignored when ``grid`` is given).
        title: the cube's title (default: names the manifest).
        progress: show a progress bar over rasters (on stderr).
        scheduler: None to reproject on this machine's threads, or the address of a dask.distributed
            scheduler (``tcp://host:8786``) whose workers can read the rasters at the manifest's paths.
        source_label: the cube's ``source_manifest`` attribute (default: the manifest's absolute path).

    Returns:
        An :class:`IngestReport`: every slot filled or missing, NaN fraction per raster, warnings.

    Raises:
        InputError: a bad manifest, a raster left all-NaN over the grid, values the cube cannot store; an
            output that is a folder, or a resolution that is not a positive number (checked first).
        CRSError: a raster without a CRS, or one that does not overlap the grid.
        DataFileError: a missing, unreadable or garbled raster (or manifest); an output that exists but is
            not a geoapp cube, or whose folder cannot be written (checked first).
        DiskFullError: the device filled up while writing the cube (no partial file is left).
        DataFileError: the scheduler at ``scheduler`` does not answer.
    """
    manifest_path = as_path(manifest_path, "manifest_path")
    scheduler = probe_scheduler(scheduler)  # before any raster is read
    source_label = as_optional_text(source_label, "source_label")
    out_path = as_path(out_path, "out_path")
    title = as_optional_text(title, "title")
    if grid is not None and not isinstance(grid, Grid):
        raise InputError(f"grid must be a geoapp.data.grid.Grid or None, got {type(grid).__name__} {grid!r}")
    _check_output(out_path)  # before any raster is read
    if grid is None:
        resolution_m = as_number(resolution_m, "the grid resolution (resolution_m)", "metres")
        grid = study_area_grid(resolution_m)  # refuses a grid too large or too small before anything is read
    table = read_manifest(manifest_path)
    years = sorted({int(y) for y in table["year"].dropna()})
    if not years:
        raise InputError(
            f"manifest {str(manifest_path)!r} has only static bands; a cube needs at least one year of "
            f"a dynamic band ({', '.join(DYNAMIC_BANDS)})"
        )
    title = title or f"Cube ingested from {manifest_path.name}"
    attrs = {"source_manifest": source_label or str(manifest_path.resolve())}

    results: dict[tuple[str, int | None, int | None], SlotStatus] = {}
    notes: dict[int, list[str]] = {}
    rows = list(enumerate(table.to_dict("records")))
    with CubeWriter(out_path, grid, years, title, simulated=False, attrs=attrs, require_all=False) as writer:
        tasks = run_tasks(
            _ingest_task,
            rows,
            shared={"grid": grid},
            scheduler=scheduler,
            progress=progress,
            desc="ingesting rasters",
            unit="raster",
        )
        for (i, _), (values, status, row_notes) in tasks:
            notes[i] = row_notes
            band = status.band
            if status.year is None:
                writer.write_static(band, values)
            else:
                writer.write_slot(band, status.year, status.month, values)
            results[(band, status.year, status.month)] = status
    slots = tuple(results.get(key, SlotStatus(*key, filled=False)) for key in _all_slots(years))
    ordered = [n for i in sorted(notes) for n in notes[i]]
    for note in ordered:  # issued here, in manifest order, pointing at the caller (tasks may run in other threads)
        warnings.warn(note, UserWarning, stacklevel=2)
    return IngestReport(manifest_path, out_path, grid, tuple(years), slots, ordered)


def _ingest_task(item: tuple[int, dict[str, object]], grid: Grid) -> tuple[np.ndarray, SlotStatus, list[str]]:
    """One manifest row, reprojected and checked (a dask task): see :func:`_ingest_row`."""
    return _ingest_row(item[1], grid)


def _check_output(out_path: Path) -> None:
    """Refuse, before any work, an output that is a folder, a file geoapp did not write, or in a folder that cannot be written.

    An existing cube (a NetCDF with the cube layout) is replaced; any other file is left alone.
    Leftovers of a killed ingest of the same file are removed (:func:`geoapp.fileio.remove_stale_temporaries`).
    """
    where = repr(str(out_path))
    if out_path.is_dir():
        raise InputError(f"output {where} is a folder; give the cube file to write, e.g. {str(out_path / 'cube.nc')!r}")
    if out_path.name in DATA_FILES and (out_path.parent / CARD).is_file():
        raise InputError(
            f"output {where} belongs to the dataset in {str(out_path.parent)!r}; replacing it would leave the dataset's "
            "card describing another cube: rebuild the dataset with `python -m geoapp data build --manifest ... "
            "--force` instead, or give data ingest a file outside the dataset folder"
        )
    if out_path.exists():
        try:
            open_cube(out_path).close()
        except DataFileError:
            raise DataFileError(
                f"output {where} exists and is not a cube geoapp wrote; geoapp will not replace it: choose a new file "
                "(an existing geoapp cube is replaced)"
            ) from None
    check_writable(out_path)
    remove_stale_temporaries(out_path)


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
    where = f"raster {short_name(source)!r} (manifest line {row['line']}, {str(row['path'])!r})"
    band = str(row["band"])
    notes: list[str] = []
    raster = reproject_raster(source, opt_int(row["layer"]), grid, where, Path(str(row["path"])).name, notes)
    row_scale = float(row["scale"])  # type: ignore[arg-type]
    if raster.scale != 1.0 and row_scale != 1.0:
        notes.append(
            f"{where}: the file carries its own scale {raster.scale:g} and the manifest row adds scale {row_scale:g}, "
            f"so a value is raw * {raster.scale:g} * {row_scale:g}; if the file's scale already converts it, leave the "
            "manifest's scale empty"
        )
    scale = raster.scale * row_scale
    offset = raster.offset * row_scale + float(row["offset"])  # type: ignore[arg-type]
    values = raster.values
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
        opt_int(row["year"]),
        opt_int(row["month"]),
        filled=True,
        path=source,
        nan_fraction=nan_fraction,
        resampling=raster.resampling.name,
        source_crs=raster.source_crs,
    )
    return values, status, notes


def _check_values(values: np.ndarray, band: str, where: str, notes: list[str]) -> None:
    """Refuse values a correct raster of ``band`` cannot hold; warn when more than 1% are implausible.

    Refused: infinite values, values outside :data:`PHYSICAL_RANGE` (the message names the range found and
    the likely conversion, e.g. kelvin to degC) and values the cube's int16 packing cannot store.
    """
    units = BAND_INFO[band].units
    n_inf = int(np.isinf(values).sum())
    if n_inf:
        raise InputError(
            f"{where}: {n_inf} {band} pixel(s) are infinite over the grid; if they mark missing data, declare the "
            f"file's nodata value (e.g. `gdal_edit.py -a_nodata <value> <file>`), otherwise fix the file"
        )
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    ph_lo, ph_hi = PHYSICAL_RANGE[band]
    tol = 1e-5 * (ph_hi - ph_lo)  # float32 rounding of a scale/offset
    outside = (finite < ph_lo - tol) | (finite > ph_hi + tol)
    if outside.any():
        raise InputError(
            f"{where}: {band} values span {lo:.6g}..{hi:.6g} over the grid, outside the physical range "
            f"{ph_lo:g}..{ph_hi:g} (units {units!r}) in {int(outside.sum())} of {finite.size} pixels "
            f"({100 * float(outside.mean()):.1f}%); {_suggest_conversion(band, lo, hi, ph_lo)}. {UNIT_HINTS[band]}."
        )
    scale, offset = PACKING[band]
    store_lo, store_hi = offset - 32767 * scale, offset + 32767 * scale
    if lo < store_lo or hi > store_hi:
        raise InputError(
            f"{where}: {band} values span {lo:.6g}..{hi:.6g} (units {units!r}) over the grid, outside what the "
            f"cube can store ({store_lo:.6g}..{store_hi:.6g}). {UNIT_HINTS[band]}; set the manifest's scale/offset "
            f"columns to convert."
        )
    if band in _INDICES and finite.size and float(np.quantile(np.abs(finite), 0.99)) < _INDEX_TOO_SMALL:
        notes.append(
            f"{where}: {band} values are all near 0 (99% within +-{_INDEX_TOO_SMALL:g}, range {lo:.3g}..{hi:.3g}), "
            f"which cropland does not show: a scale applied twice (raw * 0.0001 * 0.0001)? {UNIT_HINTS[band]}"
        )
    p_lo, p_hi = PLAUSIBLE_RANGE[band]
    share = float(((finite < p_lo) | (finite > p_hi)).mean())
    if share > 0.01:
        msg = (
            f"{where}: {100 * share:.1f}% of {band} values lie outside the plausible {p_lo:g}..{p_hi:g} "
            f"(range {lo:.4g}..{hi:.4g}); {UNIT_HINTS[band]}"
        )
        notes.append(msg)  # ingest_manifest issues it as a warning


_INDICES = ("ndvi", "evi")
"""Vegetation indices: values near 0 everywhere suggest a scale applied twice (ingest warns)."""
_INDEX_TOO_SMALL = 0.01
"""|index| below which 99% of a raster's values make ingest warn."""


def _suggest_conversion(band: str, lo: float, hi: float, physical_lo: float) -> str:
    """What to put in the manifest for values ``lo..hi`` outside the physical range (first usual mistake that fits)."""
    p_lo, p_hi = PLAUSIBLE_RANGE[band]
    for looks_like, scale, offset in _CONVERSIONS.get(band, ()):
        if p_lo <= lo * scale + offset and hi * scale + offset <= p_hi:
            fix = []
            if scale != 1.0:
                fix.append(f"scale {scale:g} (multiply an existing scale by it)")
            if offset != 0.0:
                fix.append(f"offset {offset:g} (add it to an existing offset)")
            return f"they look like {looks_like}: give this manifest row {' and '.join(fix)} (value = raw * scale + offset)"
    if lo < physical_lo:
        return (
            f"values below {physical_lo:g} are impossible: if they mark missing data (e.g. -9999), declare that "
            f"value as the file's nodata (`gdal_edit.py -a_nodata -9999 <file>`), otherwise set this manifest row's "
            f"scale/offset to convert"
        )
    return "set this manifest row's scale/offset columns to convert (a value is raw * scale + offset)"
