"""Where a dataset's numbers come from: the SIMULATED badge, or a real dataset's source files.

A real dataset's card (``dataset.json``, ``"simulated": false``) lists its ``sources``: one entry per
file read (the rasters and the NASS export) with its name, size, sha256, CRS, units, what it holds
(band, year, month) and any scale/offset applied. The sidebar shows them compactly; the Home page
shows the whole table beside the dataset's key figures.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geoapp.data.dataset import YieldDataset
from geoapp.data.summary import dataset_summary, years_text

__all__ = [
    "SIMULATED_NOTE",
    "simulated_note",
    "source_table",
    "sources_label",
    "source_count_text",
    "show_provenance",
    "short_crs",
    "dataset_overview",
]

SIMULATED_NOTE = "Simulated data: a documented simulation on real county polygons, not observations."

_NAME_KEYS = ("file", "name", "filename", "path")


def simulated_note(ds: YieldDataset) -> str | None:
    """The label shown beside anything drawn from simulated data, or None for real data."""
    return SIMULATED_NOTE if ds.simulated else None


def _sources(ds: YieldDataset) -> list[dict]:
    found = ds.card.get("sources") or []
    return [s if isinstance(s, dict) else {"file": str(s)} for s in found] if isinstance(found, list) else []


def _holds(entry: dict) -> str:
    what = str(entry.get("band") or entry.get("kind") or entry.get("variable") or "")
    year, month = entry.get("year"), entry.get("month")
    if year not in (None, ""):
        what += f" {int(year)}" + (f"-{int(month):02d}" if month not in (None, "") else "")
    return what.strip() or "–"


def _size(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "–"


def _scale_offset(entry: dict) -> str:
    scale, offset = entry.get("scale"), entry.get("offset")
    if scale in (None, 1, 1.0) and offset in (None, 0, 0.0):
        return "–"
    return f"× {scale if scale is not None else 1} + {offset if offset is not None else 0}"


def source_table(ds: YieldDataset, full: bool = False) -> pd.DataFrame:
    """One row per source file of ``ds`` (empty for a dataset whose card lists none).

    Columns: ``file`` (as the card names it, relative to the manifest), ``holds`` (band and
    year-month, or what the file is), ``CRS``, ``units``; with ``full``: also ``size``,
    ``scale/offset`` and ``sha256`` (first 12 hex digits).
    """
    rows = []
    for entry in _sources(ds):
        name = next((str(entry[k]) for k in _NAME_KEYS if entry.get(k)), "?")
        row = {
            "file": name,
            "holds": _holds(entry),
            "CRS": str(entry.get("crs") or "–"),
            "units": str(entry.get("units") or "–"),
        }
        if full:
            row["size"] = _size(entry.get("size", entry.get("size_bytes")))
            row["scale/offset"] = _scale_offset(entry)
            row["sha256"] = str(entry.get("sha256") or "")[:12] or "–"
        rows.append(row)
    columns = ["file", "holds", "CRS", "units"] + (["size", "scale/offset", "sha256"] if full else [])
    return pd.DataFrame(rows, columns=columns)


def source_count_text(ds: YieldDataset) -> str:
    """How many source files the card lists ("N source files"), or that it records none."""
    n = len(_sources(ds))
    return f"{n} source file{'s' if n != 1 else ''}" if n else "sources not recorded in the card"


def sources_label(ds: YieldDataset) -> str:
    """The sidebar's heading for a real dataset: "Real data · N source files"."""
    return f"Real data · {source_count_text(ds)}"


def show_provenance(ds: YieldDataset) -> None:
    """In the sidebar: the SIMULATED badge and note, or the real dataset's source files."""
    st.sidebar.caption(crop_text(ds))
    if ds.simulated:
        st.sidebar.markdown(":orange-badge[SIMULATED DATA]")
        st.sidebar.caption(SIMULATED_NOTE)
        return
    table = source_table(ds)
    with st.sidebar.expander(sources_label(ds)):
        if table.empty:
            st.caption("This dataset's card (dataset.json) lists no source files.")
            return
        table["CRS"] = table["CRS"].map(short_crs)
        crs = table.loc[table["CRS"] != "–", "CRS"].value_counts()
        units = sorted({u for u in table["units"] if u != "–"})
        st.caption(
            "CRS: " + (", ".join(f"{c} ({n})" for c, n in crs.items()) or "not recorded") + ". "
            f"Units: {', '.join(units) or 'not recorded'}. Rasters are reprojected onto the dataset's EPSG:5070 grid."
        )
        st.dataframe(table[["CRS", "units", "file"]], hide_index=True, height=min(35 * len(table) + 38, 300))


def crop_text(ds: YieldDataset) -> str:
    """What the yields are of: ``"Crop: soybeans (simulated), county yields in bu/acre"``."""
    return f"Crop: {ds.crop}{' (simulated)' if ds.simulated else ''}, county yields in bu/acre"


def short_crs(crs: str) -> str:
    """A CRS label short enough for the sidebar: EPSG codes as they are, a PROJ string by its projection."""
    if crs.startswith("+proj="):
        return crs.split()[0] + " …"
    return crs if len(crs) <= 28 else crs[:27] + "…"


def dataset_overview(ds: YieldDataset) -> None:
    """The Home page's dataset panel: what the data are, key figures, and (expanded) every detail."""
    if ds.simulated:
        st.warning(
            f"The loaded dataset is **simulated**: a documented generating process of {ds.crop} yields on the real "
            "2016 Census county polygons (see docs/simulated-data.md). Bring real data with a NASS Quick Stats "
            "export and rasters (README, 'Real data')."
        )
    else:
        st.info(f"**{ds.title}**: real data ({ds.crop}), built from the files listed below ({source_count_text(ds)}).")
    s = dataset_summary(ds)
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Counties", s["counties"])
    c2.metric("Labelled per year", f"{s['labelled_per_year_mean']:.0f}", help="mean number of counties with a yield, per year")
    span = s["years"][-1] - s["years"][0] + 1 == len(s["years"])
    c3.metric("Years", f"{s['years'][0]}–{s['years'][-1]}" if span else f"{len(s['years'])} years", help=years_text(s["years"]))
    c4.metric("Grid cell (km)", f"{s['grid']['resolution_km']:g}", help=f"tiles of {s['grid']['tile_px']} px")
    floor = s.get("noise_floor_rmse_bu_acre")
    c5.metric(
        "Noise floor (bu/acre)",
        f"{floor}" if floor is not None else "unknown" if not ds.simulated else "not recorded",
        help="the RMSE of the noise-free yield against the labels: the best any model can do; only a simulation knows "
        "it (unknown for real data)",
    )
    if "anchor_source" in ds.counties.columns:
        counts = ds.counties["anchor_source"].value_counts()
        st.caption(
            f"Anchor tiles: {int(counts.get('cropland', 0))} counties at their cropland centre, "
            f"{int(counts.get('interior', 0))} at an interior point of the county (no cropland centre found)."
        )
    with st.expander("Dataset details"):
        st.json(s)
    if not ds.simulated:
        with st.expander(sources_label(ds), expanded=False):
            table = source_table(ds, full=True)
            if table.empty:
                st.caption("This dataset's card (dataset.json) lists no source files.")
            else:
                st.dataframe(table, hide_index=True, width="stretch")
