"""A dataset's summary: what ``python -m geoapp data info`` prints and the home page shows."""

from __future__ import annotations

import math

from geoapp.data.args import as_bool, given
from geoapp.data.bands import BAND_INFO, BANDS, MONTH_NAMES, MONTHS
from geoapp.data.dataset import YieldDataset, rebuild_hint
from geoapp.errors import DataFileError, InputError

__all__ = ["dataset_summary", "format_summary", "years_text"]


def dataset_summary(ds: YieldDataset, check_files: bool = False) -> dict[str, object]:
    """Key facts of a dataset as a JSON-serialisable dict.

    With ``check_files``, also ``files``: whether the data files still match the card's fingerprint
    (:meth:`YieldDataset.check_files`; reads the files when they changed since the last check).

    Raises:
        InputError: ``ds`` is not a loaded dataset, or ``check_files`` is not a bool.
    """
    if not isinstance(ds, YieldDataset):
        raise InputError(
            f"ds must be a dataset from geoapp.data.dataset.load_dataset, got {given(ds)}; load it with load_dataset(<folder>)"
        )
    check_files = as_bool(check_files, "check_files")
    grid = ds.grid
    lab = ds.labelled()
    per_year = lab.groupby("year")["yield"]
    out: dict[str, object] = {
        "title": ds.title,
        "simulated": ds.simulated,
        "path": str(ds.root),
        "fingerprint": ds.fingerprint,
        **({"files": _files_line(ds)} if check_files else {}),
        "grid": {
            "crs": grid.crs,
            "resolution_km": grid.resolution_m / 1000.0,
            "shape_hw": list(grid.shape),
            "tile_px": ds.tile_px,
            "tile_km": ds.tile_px * grid.resolution_m / 1000.0,
        },
        "years": [int(y) for y in ds.years],
        "months": f"{MONTH_NAMES[MONTHS[0]]}-{MONTH_NAMES[MONTHS[-1]]} ({len(MONTHS)} steps)",
        "bands": {b: BAND_INFO[b].units for b in BANDS},
        "counties": int(len(ds.counties)),
        "labelled_per_year_mean": round(float(lab.groupby("year").size().mean()), 1) if len(lab) else 0,
        "yield_mean_bu_acre": round(float(lab["yield"].mean()), 2) if len(lab) else None,
        "yield_sd_within_year_bu_acre": round(float(per_year.std().mean()), 2) if len(lab) else None,
    }
    if ds.truth is not None:
        floor = ds.truth.get("noise_floor_rmse_bu") if isinstance(ds.truth, dict) else None
        if isinstance(floor, bool) or not isinstance(floor, int | float) or not math.isfinite(floor):
            raise DataFileError(
                f"dataset {ds.name!r}: truth.json's 'noise_floor_rmse_bu' is {floor!r}, expected a number of bu/acre; "
                f"{rebuild_hint(ds.root, ds.card)}"
            )
        out["noise_floor_rmse_bu_acre"] = round(float(floor), 3)
        out["scripted_years"] = ds.truth.get("scripted_years")
    return out


def _files_line(ds: YieldDataset) -> str:
    """``unchanged since the card was written``, or what changed and how to rebuild."""
    check = ds.check_files()
    if check.ok:
        return check.describe()
    return f"{check.describe()}: training and evaluation refuse it; {rebuild_hint(ds.root, ds.card)}"


def years_text(years: list[int]) -> str:
    """``2003-2018 (16 years)`` for consecutive years; each year named when some are missing (``2016, 2018 (2 years)``)."""
    years = sorted(int(y) for y in years)
    count = f"{len(years)} year{'s' if len(years) != 1 else ''}"
    if len(years) > 1 and years[-1] - years[0] == len(years) - 1:
        return f"{years[0]}-{years[-1]} ({count})"
    return f"{', '.join(map(str, years))} ({count})"


def format_summary(summary: dict[str, object]) -> str:
    """The summary as aligned ``key: value`` lines, with a SIMULATED banner when it applies.

    Raises:
        InputError: ``summary`` is not a non-empty dict with text keys (what :func:`dataset_summary` returns).
    """
    if not isinstance(summary, dict) or not summary or not all(isinstance(k, str) for k in summary):
        raise InputError(f"summary must be a non-empty dict of text keys, as dataset_summary returns, got {given(summary)}")
    lines = []
    if summary.get("simulated"):
        lines.append("*** SIMULATED DATA: a documented simulation on real county polygons, not observations ***")
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif key == "years" and isinstance(value, list) and value:
            value = years_text(value)
        lines.append(f"{key.ljust(width)}  {value}")
    return "\n".join(lines)
