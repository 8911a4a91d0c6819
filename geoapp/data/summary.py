"""A dataset's summary: what ``python -m geoapp data info`` prints and the home page shows."""

from __future__ import annotations

from geoapp.data.bands import BAND_INFO, BANDS, MONTH_NAMES, MONTHS
from geoapp.data.dataset import YieldDataset

__all__ = ["dataset_summary", "format_summary"]


def dataset_summary(ds: YieldDataset) -> dict[str, object]:
    """Key facts of a dataset as a JSON-serialisable dict."""
    grid = ds.grid
    lab = ds.labelled()
    per_year = lab.groupby("year")["yield"]
    out: dict[str, object] = {
        "title": ds.title,
        "simulated": ds.simulated,
        "path": str(ds.root),
        "fingerprint": ds.fingerprint,
        "grid": {
            "crs": grid.crs,
            "resolution_km": grid.resolution_m / 1000.0,
            "shape_hw": list(grid.shape),
            "tile_px": ds.tile_px,
            "tile_km": ds.tile_px * grid.resolution_m / 1000.0,
        },
        "years": [min(ds.years), max(ds.years)],
        "months": f"{MONTH_NAMES[MONTHS[0]]}-{MONTH_NAMES[MONTHS[-1]]} ({len(MONTHS)} steps)",
        "bands": {b: BAND_INFO[b].units for b in BANDS},
        "counties": int(len(ds.counties)),
        "labelled_per_year_mean": round(float(lab.groupby("year").size().mean()), 1) if len(lab) else 0,
        "yield_mean_bu_acre": round(float(lab["yield"].mean()), 2) if len(lab) else None,
        "yield_sd_within_year_bu_acre": round(float(per_year.std().mean()), 2) if len(lab) else None,
    }
    if ds.truth is not None:
        out["noise_floor_rmse_bu_acre"] = round(float(ds.truth["noise_floor_rmse_bu"]), 3)
        out["scripted_years"] = ds.truth.get("scripted_years")
    return out


def format_summary(summary: dict[str, object]) -> str:
    """The summary as aligned ``key: value`` lines, with a SIMULATED banner when it applies."""
    lines = []
    if summary.get("simulated"):
        lines.append("*** SIMULATED DATA: a documented simulation on real county polygons, not observations ***")
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"{key.ljust(width)}  {value}")
    return "\n".join(lines)
