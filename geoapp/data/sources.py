"""The files a real dataset was built from, as its card lists them: names, sizes, hashes, CRS, units.

:func:`source_entries` gives one entry per file read (per manifest row for rasters), with the file's
name relative to the manifest's folder (never an absolute path, so a card built elsewhere from the
same files is the same), its size in bytes and its sha256, and for rasters what was read and how it
was converted to the cube's units.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pandas as pd
import rasterio
import rasterio.crs
import rasterio.errors

from geoapp.data.bands import BAND_INFO
from geoapp.data.ingest import IngestReport
from geoapp.data.ingest.manifest import NETCDF_GDAL_NAME
from geoapp.data.ingest.reproject import raster_file_error
from geoapp.errors import DataFileError

__all__ = ["source_entries", "sha256_file"]


def source_entries(
    table: pd.DataFrame,
    ingest: IngestReport,
    manifest: Path,
    yields: Path,
    cropland: Path | None,
    nass: pd.DataFrame,
    crop_codes: tuple[int, ...],
) -> list[dict[str, object]]:
    """One entry per file read (per manifest row for rasters): what it is and what was done with it.

    Every entry has ``kind`` (``raster``, ``yields``, ``cropland`` or ``manifest``), ``file`` (relative to
    the manifest's folder, POSIX), ``size`` (bytes) and ``sha256``. Rasters add ``band``, ``year``,
    ``month``, ``variable``/``layer`` (NetCDF), ``crs``, ``units`` (the cube's), ``file_units``,
    ``file_scale``/``file_offset`` (stored in the file), ``manifest_scale``/``manifest_offset`` and
    ``scale``/``offset`` (in total: cube value = raw * scale + offset), ``resampling`` and ``nan_fraction``.
    """
    base = manifest.parent.resolve()
    hashes: dict[Path, dict[str, object]] = {}

    def file_entry(kind: str, path: Path) -> dict[str, object]:
        path = path.resolve()
        if path not in hashes:
            hashes[path] = {"file": _relative_name(path, base), "size": path.stat().st_size, "sha256": sha256_file(path)}
        return {"kind": kind, **hashes[path]}

    status = {(s.band, s.year, s.month): s for s in ingest.filled}
    entries = [{**file_entry("manifest", manifest), "units": None}]
    for row in table.to_dict("records"):
        year = None if pd.isna(row["year"]) else int(row["year"])
        month = None if pd.isna(row["month"]) else int(row["month"])
        layer = 1 if pd.isna(row["layer"]) else int(row["layer"])
        slot = status.get((row["band"], year, month))
        source = str(row["source"])
        meta = _file_metadata(source, layer)
        scale = meta["file_scale"] * float(row["scale"])
        offset = meta["file_offset"] * float(row["scale"]) + float(row["offset"])
        entries.append(
            {
                **file_entry("raster", Path(str(row["path"]))),
                "band": row["band"],
                "year": year,
                "month": month,
                "variable": source.rsplit(":", 1)[-1] if source.upper().startswith("NETCDF:") else None,
                "layer": layer,
                **meta,
                "units": BAND_INFO[row["band"]].units,
                "manifest_scale": float(row["scale"]),
                "manifest_offset": float(row["offset"]),
                "scale": scale,
                "offset": offset,
                "resampling": slot.resampling if slot is not None else None,
                "nan_fraction": round(float(slot.nan_fraction or 0.0), 4) if slot is not None else None,
            }
        )
    entries.append(
        {
            **file_entry("yields", yields),
            "units": "bu/acre",
            "rows_read": int(len(nass)),
            "dropped_on_read": dict(nass.attrs.get("dropped", {})),
        }
    )
    if cropland is not None:
        entries.append(
            {
                **file_entry("cropland", cropland),
                "crs": _file_metadata(str(cropland), 1)["crs"],
                "units": "class codes",
                "crop_codes": list(crop_codes),
            }
        )
    return entries


def _file_metadata(source: str, layer: int) -> dict[str, object]:
    """The CRS, and the scale, offset and units a raster stores for ``layer`` (1, 0, None when none).

    Raises:
        DataFileError: the raster cannot be read any more (changed since it was ingested), or lacks ``layer``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(source) as src:
                if not 1 <= layer <= src.count:
                    raise DataFileError(
                        f"raster {source!r} has {src.count} band(s), no band {layer}; did the file change while "
                        "the dataset was built? Build it again"
                    )
                return {
                    "crs": _crs_label(src.crs),
                    "file_units": src.units[layer - 1] or None,
                    "file_scale": float(src.scales[layer - 1] or 1.0),
                    "file_offset": float(src.offsets[layer - 1] or 0.0),
                }
    except (rasterio.errors.RasterioError, OSError) as exc:
        if isinstance(exc, DataFileError):
            raise
        m = NETCDF_GDAL_NAME.match(source)
        file, variable = (m["file"], m["var"]) if m else (source, None)
        raise raster_file_error(file, f"raster {source!r}", exc, variable=variable) from exc


def _crs_label(crs: rasterio.crs.CRS | None) -> str | None:
    """``"EPSG:4269"`` when the CRS has an EPSG code, else its PROJ string (e.g. MODIS ``+proj=sinu ...``)."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    return " ".join(p.removesuffix("=True") for p in crs.to_proj4().split()) or crs.to_wkt()


def _relative_name(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` in POSIX form, or its bare name when it lies elsewhere."""
    path = path.resolve()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks.

    Raises:
        DataFileError: the file cannot be read.
    """
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise DataFileError(f"cannot read {str(path)!r} to hash it: {exc.strerror or exc}") from exc
    return h.hexdigest()
