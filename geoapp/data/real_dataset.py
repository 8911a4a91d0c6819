"""Build a real dataset folder from a user's own files: rasters, a land-cover map and NASS yields.

The folder has the layout of the simulated one (see :mod:`geoapp.data.dataset`), so every command and
page takes it: ``dataset.json`` (the card, ``simulated: false``, with the sources), ``cube.nc``,
``counties.csv`` and ``yields.csv``; there is no ``truth.json``. :func:`build_real_dataset`:

1. reads the raster manifest (:func:`geoapp.data.ingest.read_manifest`) and refuses a band that has
   no raster at all (the models need all nine);
2. picks the states: the ones given, or those whose counties the rasters cover
   (:mod:`geoapp.data.footprint`: where every band has a raster); the grid is their study area
   (:func:`geoapp.data.study_area.study_area_grid`: EPSG:5070, ``resolution_km``, 100 km margin);
3. ingests the rasters onto that grid (:func:`geoapp.data.ingest.ingest_manifest`); gaps are reported;
4. keeps the counties of those states where the cube has data on at least :data:`MIN_COVERAGE` of
   their pixels, and anchors each at its cropland centre (:mod:`geoapp.data.cropland`), or at the
   polygon's interior point when there is no land-cover map or no crop pixel (``anchor_source``);
5. reads the Quick Stats yields (:func:`geoapp.data.nass.read_quickstats`) and keeps the rows of kept
   counties and cube years; every dropped row is counted by reason;
6. writes the card with the sources (:mod:`geoapp.data.sources`: file, size, sha256, CRS, units,
   scale/offset), a fingerprint of the content and the build settings (no paths or times in it, so a
   rebuild elsewhere matches) and each written file's SHA-256 (``file_sha256``, so a file replaced
   later is caught: :mod:`geoapp.data.fingerprint`).

The output folder is checked before any work (:func:`geoapp.data.dataset.check_output_folder`: a
folder of other files is never replaced, a dataset only with ``force``), and everything is written
under a temporary name and renamed (:func:`geoapp.fileio.atomic_folder`): a failed build, a full
disk included, leaves nothing behind and any previous dataset as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoapp.data.args import as_bool, as_number, as_optional_path, as_optional_text, as_path, as_text, given
from geoapp.data.bands import BAND_INFO, BANDS, MONTH_NAMES, MONTHS, STATIC_BANDS
from geoapp.data.counties import STATE_FIPS, load_counties
from geoapp.data.cropland import IGBP_CROPLAND, county_anchors, county_crop_centres, parse_crop_codes
from geoapp.data.cube import open_cube
from geoapp.data.cube_store import read_slab
from geoapp.data.dataset import CARD, card_basics, check_output_folder
from geoapp.data.fingerprint import content_hashes, real_fingerprint
from geoapp.data.footprint import check_states_covered, covered_states, describe_area, manifest_footprint
from geoapp.data.grid import Grid
from geoapp.data.ingest import IngestReport, ingest_manifest, read_manifest
from geoapp.data.nass import DEFAULT_COMMODITY, DEFAULT_DATA_ITEM, is_bu_per_acre, read_quickstats
from geoapp.data.simulate import county_raster
from geoapp.data.sources import source_entries
from geoapp.data.study_area import study_area_grid
from geoapp.errors import InputError
from geoapp.fileio import atomic_folder

__all__ = ["MIN_COVERAGE", "BuildReport", "build_real_dataset"]

MIN_COVERAGE = 0.5
"""Share of a county's grid pixels that must hold data for the county to be kept.

A pixel holds data when it is finite in every static band and in at least half of each dynamic
band's ingested slots (so a cloudy month does not count against it).
"""


@dataclass
class BuildReport:
    """What :func:`build_real_dataset` built and what it left out, and why.

    Attributes:
        out: the dataset folder.
        name, title: the card's name and title.
        states: postal codes of the chosen states; ``states_from`` says ``"given"`` or ``"raster footprints"``.
        grid: the cube grid (EPSG:5070, metres).
        years: the cube's years.
        tile_px: anchor tile size in pixels.
        ingest: the raster ingest report (filled and missing slots, NaN shares, warnings).
        counties_kept: counties in ``counties.csv``.
        counties_dropped: reason -> geoids of the chosen states' counties left out.
        anchors: ``{"cropland": n, "interior": n}``: where the anchors come from.
        interior_counties: geoids anchored at their interior point (fallback).
        yield_rows_read: county-year rows read from the Quick Stats file.
        yield_rows_dropped_on_read: reason -> rows the Quick Stats reader dropped (withheld, other commodity, ...).
        yield_rows_dropped: reason -> rows dropped because they do not match the cube.
        labelled_rows: county-year rows with a yield in ``yields.csv``.
        fingerprint: the card's fingerprint.
    """

    out: Path
    name: str
    title: str
    states: tuple[str, ...]
    states_from: str
    grid: Grid
    years: tuple[int, ...]
    tile_px: int
    ingest: IngestReport
    counties_kept: int
    counties_dropped: dict[str, list[str]]
    anchors: dict[str, int]
    interior_counties: list[str]
    yield_rows_read: int
    yield_rows_dropped_on_read: dict[str, int]
    yield_rows_dropped: dict[str, int]
    labelled_rows: int
    fingerprint: str
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A plain-text account for the command line."""
        g = self.grid
        years = f"{self.years[0]}-{self.years[-1]}" if len(self.years) > 1 else str(self.years[0])
        n_dropped = sum(len(v) for v in self.counties_dropped.values())
        lines = [
            f"Built real dataset {self.name!r} at {self.out} (fingerprint {self.fingerprint})",
            f"  states {', '.join(self.states)} ({self.states_from}); grid {g.crs} at {g.resolution_m / 1000:g} km, "
            f"{g.width} x {g.height} px; tile {self.tile_px} px; years {years} ({len(self.years)})",
            f"Counties: {self.counties_kept} kept, {n_dropped} dropped",
        ]
        for reason, geoids in self.counties_dropped.items():
            lines.append(f"  dropped, {reason}: {len(geoids)} ({_examples(geoids)})")
        lines.append(
            f"Anchors: {self.anchors.get('cropland', 0)} at the cropland centre, "
            f"{self.anchors.get('interior', 0)} at the polygon's interior point (fallback)"
            + (f": {_examples(self.interior_counties)}" if self.interior_counties else "")
        )
        filled, slots = len(self.ingest.filled), len(self.ingest.slots)
        lines.append(f"Cube: {filled} of {slots} slots filled, {slots - filled} missing (left NaN)")
        missing = [s.label() for s in self.ingest.missing]
        if missing:
            lines.append(f"  missing: {_examples(missing, 12)}")
        read_drops = {k: v for k, v in self.yield_rows_dropped_on_read.items() if v}
        lines.append(
            f"Yields: {self.yield_rows_read} county-year rows read"
            + (f" (the reader left out {_format_counts(read_drops)})" if read_drops else "")
            + f"; {self.labelled_rows} labelled rows kept"
        )
        for reason, n in self.yield_rows_dropped.items():
            if n:
                lines.append(f"  dropped, {reason}: {n}")
        if self.warnings:
            lines.append(f"Warnings ({len(self.warnings)}):")
            lines.extend(f"  {w}" for w in self.warnings)
        return "\n".join(lines)


def build_real_dataset(
    manifest: str | os.PathLike[str],
    yields: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    cropland: str | os.PathLike[str] | None = None,
    crop_codes: Sequence[int] | str = IGBP_CROPLAND,
    states: Sequence[str] | None = None,
    resolution_km: float = 4.0,
    tile_px: int = 16,
    name: str | None = None,
    force: bool = False,
    progress: bool = True,
    commodity: str = DEFAULT_COMMODITY,
    data_item: str | None = DEFAULT_DATA_ITEM,
    plausible_range: tuple[float, float] | None = None,
    scheduler: str | None = None,
) -> tuple[Path, BuildReport]:
    """Build a dataset folder at ``out`` from a raster manifest, a Quick Stats CSV and a land-cover map.

    Args:
        manifest: raster manifest CSV (``band,year,month,path``; see :mod:`geoapp.data.ingest`).
        yields: USDA NASS Quick Stats CSV export (website or API spelling).
        out: the dataset folder to write.
        cropland: categorical land-cover raster (MCD12Q1, CDL; any CRS) for the anchors; None: interior points.
        crop_codes: its crop classes (default 12, 14: IGBP croplands; 5 for CDL soybeans), or text ``"12,14"``.
        states: postal codes of the study states; None: those whose counties the rasters cover.
        resolution_km: grid pixel size in km (EPSG:5070).
        tile_px: anchor tile size in pixels.
        name: dataset name (default: the folder's name).
        force: replace an existing dataset folder at ``out`` (never a folder without a dataset.json, nor one
            holding files geoapp did not write); a bool, like ``progress``.
        progress: progress bar over rasters (stderr).
        commodity: the Quick Stats commodity to read (default ``"SOYBEANS"``).
        data_item: its data item (default soybean yield in bu/acre; None: any BU / ACRE yield item).
        plausible_range: (low, high) county yields accepted, bu/acre; None: the commodity's default
            (:data:`geoapp.data.nass.PLAUSIBLE_YIELD`). A yield outside it refuses the file (a unit or
            parsing error is the likely cause).
        scheduler: None to reproject on this machine's threads, or the address of a dask.distributed
            scheduler whose workers read the rasters at the manifest's paths (:mod:`geoapp.data.parallel`).

    Returns:
        (the folder, a :class:`BuildReport`).

    Raises:
        InputError: bad settings (a wrong type included: ``force`` and ``progress`` must be bools, ``states``
            text or a list of codes), a band with no raster, states the rasters do not cover, no crop pixel in
            the land-cover map, yields that match no cube year or county, ``out`` exists without ``force``
            (:class:`~geoapp.errors.OutputExistsError`) or is not a dataset folder geoapp may replace.
        CRSError: a raster without a CRS or outside the grid.
        DataFileError: a missing or unreadable file, an output folder that cannot be written.
        DiskFullError: the device filled up while writing (nothing is left half-written).
    """
    manifest, yields_path, out = as_path(manifest, "manifest"), as_path(yields, "yields"), as_path(out, "out")
    cropland_path = as_optional_path(cropland, "cropland")
    commodity, data_item = as_text(commodity, "commodity"), as_optional_text(data_item, "data_item")
    if data_item is not None and not is_bu_per_acre(data_item):
        raise InputError(
            f"data_item {data_item!r} is not measured in BU / ACRE; a geoapp dataset holds yields in bu/acre (its "
            "models, maps, plausible ranges and benchmarks say so): choose a yield item 'MEASURED IN BU / ACRE', "
            "or convert the values to bu/acre first (read_quickstats reads other units)"
        )
    name = as_optional_text(name, "name")
    force, progress = as_bool(force, "force"), as_bool(progress, "progress")
    chosen_states = None if states is None else _normalise_states(states)
    check_output_folder(out, force)
    codes = parse_crop_codes(crop_codes)
    resolution_km = as_number(resolution_km, "resolution_km", "km")
    if isinstance(tile_px, bool) or not (isinstance(tile_px, int) and tile_px >= 1):
        raise InputError(f"tile_px must be a positive whole number of pixels, got {tile_px!r}")

    table = read_manifest(manifest)
    _check_every_band(table, manifest)
    years = sorted({int(y) for y in table["year"].dropna()})
    nass = read_quickstats(yields_path, commodity=commodity, data_item=data_item, plausible_range=plausible_range)

    area = manifest_footprint(table)
    if states is None:
        chosen, states_from = covered_states(area), "raster footprints"
        if not chosen:
            raise InputError(
                f"the rasters of {manifest.name!r} cover no US county where every band has a raster "
                f"({describe_area(area)}); check their CRSs and extents"
            )
    else:
        chosen, states_from = chosen_states, "given"
        check_states_covered(chosen, area, repr(manifest.name))
    counties = load_counties(chosen)
    _check_overlap(nass, yields_path, years, counties["geoid"], chosen)

    grid = study_area_grid(resolution_km * 1000.0, chosen, min_side_px=tile_px)
    centres = county_crop_centres(cropland_path, counties, grid, codes) if cropland_path is not None else None
    name = name or out.name
    title = f"{name}: real data, {', '.join(chosen)} {years[0]}-{years[-1]} ({resolution_km:g} km)"

    with atomic_folder(out) as tmp:
        ingest = ingest_manifest(
            manifest,
            tmp / "cube.nc",
            grid=grid,
            title=title,
            progress=progress,
            scheduler=scheduler,
            source_label=manifest.name,  # a name, never a machine's absolute path
        )
        cube = open_cube(tmp / "cube.nc")
        try:  # closed on the way out too: an open file would keep the temporary folder on some systems
            coverage = _county_coverage(cube, counties, grid, ingest)
            keep = coverage >= MIN_COVERAGE
            too_little = f"less than {MIN_COVERAGE:.0%} of the county has data in the rasters"
            dropped = {too_little: counties.loc[~keep, "geoid"].tolist()}
            kept_centres = centres[keep].reset_index(drop=True) if centres is not None else None
            table_c = county_anchors(counties[keep].reset_index(drop=True), grid, tile_px, kept_centres)
            labels, yield_drops = _yield_rows(nass, table_c["geoid"], counties["geoid"], chosen, years)
            if labels.empty:
                raise InputError(
                    f"{yields_path.name!r}: none of its {len(nass)} county-year rows is a county the rasters cover in a "
                    f"cube year; rows dropped: {_format_counts(yield_drops)}"
                )
            full = _yields_table(table_c["geoid"], years, labels)
            table_c.to_csv(tmp / "counties.csv", index=False)
            full.to_csv(tmp / "yields.csv", index=False, float_format="%.3f")

            settings = {
                "states": list(chosen),
                "resolution_km": float(resolution_km),
                "tile_px": int(tile_px),
                "crop_codes": list(codes) if cropland_path is not None else None,
                "commodity": commodity,
                "data_item": data_item,
                "min_coverage": MIN_COVERAGE,
                **({"plausible_range": [float(v) for v in plausible_range]} if plausible_range is not None else {}),
            }
            sources = source_entries(table, ingest, manifest, yields_path, cropland_path, nass, codes)
            fingerprint = real_fingerprint(settings, sources, cube, tmp)
            anchors = table_c["anchor_source"].value_counts().to_dict()
            card = {
                "name": name,
                "title": title,
                "simulated": False,
                "description": (
                    "Built from the user's rasters, land-cover map and NASS Quick Stats yields; see docs/real-data.md."
                ),
                **card_basics(cube, table_c, full, tile_px),
                "states": list(chosen),
                "states_from": states_from,
                "bands": {b: _band_card(b, ingest) for b in BANDS},
                "counts": {
                    "counties_kept": int(keep.sum()),
                    "counties_dropped": {k: len(v) for k, v in dropped.items()},
                    "anchors": {k: int(anchors.get(k, 0)) for k in ("cropland", "interior")},
                    "missing_slots": len(ingest.missing),
                    "yield_rows_read": int(len(nass)),
                    "yield_rows_dropped": yield_drops,
                },
                "build_settings": settings,
                "sources": sources,
                "fingerprint": fingerprint,
                "file_sha256": content_hashes(tmp)[1],
            }
        finally:
            cube.close()
        (tmp / CARD).write_text(json.dumps(card, indent=1))

    report = BuildReport(
        out=out,
        name=name,
        title=title,
        states=tuple(chosen),
        states_from=states_from,
        grid=grid,
        years=tuple(years),
        tile_px=tile_px,
        ingest=ingest,
        counties_kept=int(keep.sum()),
        counties_dropped={k: v for k, v in dropped.items() if v},
        anchors=card["counts"]["anchors"],
        interior_counties=table_c.loc[table_c["anchor_source"] == "interior", "geoid"].tolist(),
        yield_rows_read=int(len(nass)),
        yield_rows_dropped_on_read=dict(nass.attrs.get("dropped", {})),
        yield_rows_dropped=yield_drops,
        labelled_rows=int(full["labelled"].sum()),
        fingerprint=fingerprint,
        warnings=list(ingest.warnings),
    )
    return out, report


# ---- checks before any work ------------------------------------------------------------------


def _check_every_band(table: pd.DataFrame, manifest: Path) -> None:
    """Refuse a manifest in which a band, or a month of a monthly band, has no raster in any year.

    The models read all nine bands, and training standardises every month of every band from the
    training years, so such a gap would stop every training run.
    """
    absent = [b for b in BANDS if b not in set(table["band"])]
    if absent:
        kinds = ", ".join(f"{b} ({'static' if b in STATIC_BANDS else 'monthly'})" for b in absent)
        raise InputError(
            f"manifest {manifest.name!r} has no raster for band(s) {kinds} in any year; the models read all nine "
            f"bands {list(BANDS)}: add rows for them (see docs/real-data-rasters.md)"
        )
    have = set(zip(table["band"], table["month"].astype("float"), strict=True))
    holes = [f"{b} {MONTH_NAMES[m]}" for b in BANDS if b not in STATIC_BANDS for m in MONTHS if (b, float(m)) not in have]
    if holes:
        raise InputError(
            f"manifest {manifest.name!r} has no raster for {', '.join(holes)} in any year; training standardises each "
            f"month of each band from the training years, so every month from March to September needs a raster in "
            f"at least one year: add rows for them"
        )


def _normalise_states(states: Sequence[str]) -> tuple[str, ...]:
    """Upper-case postal codes, sorted, each known (text such as ``"IA,IL"`` is split at commas)."""
    if isinstance(states, bytes | bytearray | Mapping) or not isinstance(states, str | Iterable):
        raise InputError(f"states must be text such as 'IA,IL', a list of state codes or None, got {given(states)}")
    items = states.split(",") if isinstance(states, str) else list(states)
    wrong = [s for s in items if not isinstance(s, str)]
    if wrong:
        raise InputError(f"states must be two-letter postal codes (text), got {given(wrong[0])} among {given(states)}")
    out = tuple(sorted({str(s).strip().upper() for s in items if str(s).strip()}))
    unknown = [s for s in out if s not in STATE_FIPS]
    if unknown or not out:
        raise InputError(f"unknown state code(s) {unknown or items!r}; expected two-letter postal codes such as 'IA'")
    return out


def _check_overlap(nass: pd.DataFrame, path: Path, years: list[int], geoids: pd.Series, states: tuple[str, ...]) -> None:
    """Refuse a yields file that shares no year, or no county, with the cube."""
    have_years = sorted(int(y) for y in nass["year"].unique())
    if not set(have_years) & set(years):
        raise InputError(
            f"{path.name!r} has yields for years {_span(have_years)} but the rasters cover {_span(years)}; "
            f"export the years of the rasters from Quick Stats"
        )
    if not nass["geoid"].isin(set(geoids)).any():
        fips = {v: k for k, v in STATE_FIPS.items()}
        found = sorted({fips.get(g[:2], g[:2]) for g in nass["geoid"]})
        raise InputError(
            f"{path.name!r} has yields for counties of {found} only; none is a county of the chosen states {list(states)}"
        )


# ---- counties and yields -----------------------------------------------------------------------


def _county_coverage(cube: xr.Dataset, counties: pd.DataFrame, grid: Grid, ingest: IngestReport) -> np.ndarray:
    """Share (0..1) of each county's grid pixels that hold data (see :data:`MIN_COVERAGE`), shape (N,).

    A county too small to hold a pixel centre is judged by the pixel under its interior point.
    """
    ok = np.ones(grid.shape, dtype=bool)
    years = cube["year"].values.tolist()
    for band in BANDS:  # one slot at a time: never a whole band in memory
        if band in STATIC_BANDS:
            ok &= np.isfinite(read_slab(cube[band]))
            continue
        filled = [(years.index(s.year), MONTHS.index(s.month)) for s in ingest.filled if s.band == band]
        finite = np.zeros(grid.shape, dtype=np.int32)
        for y, m in filled:
            finite += np.isfinite(read_slab(cube[band], year=y, month=m))
        ok &= finite >= 0.5 * len(filled)
    index = county_raster(counties, grid).ravel()
    inside = index >= 0
    n = len(counties)
    n_pix = np.bincount(index[inside], minlength=n)
    share = np.bincount(index[inside], weights=ok.ravel()[inside], minlength=n) / np.maximum(n_pix, 1)
    if (n_pix == 0).any():
        points = counties.geometry[n_pix == 0].representative_point().to_crs(grid.crs)
        r, c = grid.rowcol(points.x.to_numpy(), points.y.to_numpy())
        on = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
        share[n_pix == 0] = np.where(on, ok[np.clip(r, 0, grid.height - 1), np.clip(c, 0, grid.width - 1)], False)
    return share


def _yield_rows(
    nass: pd.DataFrame, kept: pd.Series, state_geoids: pd.Series, states: tuple[str, ...], years: list[int]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The Quick Stats rows of kept counties and cube years, and the count of the others per reason."""
    fips = {STATE_FIPS[s] for s in states}
    in_states = nass["geoid"].str[:2].isin(fips)
    known = nass["geoid"].isin(set(state_geoids))
    covered = nass["geoid"].isin(set(kept))
    in_years = nass["year"].isin(years)
    reasons = {
        "county outside the chosen states": ~in_states,
        "county code not in the 2016 Census county list": in_states & ~known,
        "county not covered by the rasters": known & ~covered,
        "year not in the cube": covered & ~in_years,
    }
    return nass[covered & in_years], {k: int(v.sum()) for k, v in reasons.items()}


def _yields_table(geoids: pd.Series, years: list[int], labels: pd.DataFrame) -> pd.DataFrame:
    """Every (kept county, cube year) with its yield in bu/acre (NaN without a label) and ``labelled``."""
    grid = pd.MultiIndex.from_product([geoids.tolist(), years], names=["geoid", "year"]).to_frame(index=False)
    full = grid.merge(labels[["geoid", "year", "yield"]], on=["geoid", "year"], how="left")
    full["labelled"] = full["yield"].notna()
    return full.sort_values(["year", "geoid"]).reset_index(drop=True)


# ---- the card: bands ---------------------------------------------------------------------------


def _band_card(band: str, ingest: IngestReport) -> dict[str, object]:
    """Units and slot counts of one band."""
    slots = [s for s in ingest.slots if s.band == band]
    return {
        "units": BAND_INFO[band].units,
        "filled_slots": sum(s.filled for s in slots),
        "missing_slots": sum(not s.filled for s in slots),
    }


# ---- formatting --------------------------------------------------------------------------------


def _span(years: Sequence[int]) -> str:
    """``"2016-2018"`` (or one year, or ``"none"``)."""
    years = sorted(years)
    if not years:
        return "none"
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


def _examples(items: Sequence[str], n: int = 6) -> str:
    """Up to ``n`` items joined, with how many more."""
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _format_counts(counts: dict[str, int]) -> str:
    """``"withheld 3, other_counties 2"`` (non-zero counts only)."""
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
