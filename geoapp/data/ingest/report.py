"""What an ingest wrote: every (band, year, month) slot of the cube, filled or missing, and warnings.

:class:`IngestReport` is what :func:`geoapp.data.ingest.ingest_manifest` returns; :class:`SlotStatus`
is one slot. The report reads as a table (:meth:`IngestReport.to_frame`) or as plain text for the
command line (:meth:`IngestReport.summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geoapp.data.bands import DYNAMIC_BANDS, MONTH_NAMES, MONTHS, STATIC_BANDS
from geoapp.data.grid import Grid
from geoapp.data.ingest.manifest import short_name

__all__ = ["SlotStatus", "IngestReport"]


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
                    f"{s.resampling} from {s.source_crs}  {short_name(s.path or '')}"
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
