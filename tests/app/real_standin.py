"""A stand-in for a dataset built from real files: the tiny simulation re-labelled as real data.

Same folder layout as a real dataset (``"simulated": false``, a ``sources`` list in the card, an
``anchor_source`` column in counties.csv, no truth.json, no noise-free ``expected`` yields), so the
pages can be tested on a real dataset without rasters or a NASS export. Its fingerprint differs from
the simulation's, as a real dataset's would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd

TITLE = "Iowa and Illinois soybean, NASS yields and user rasters (test copy)"


def _fingerprint(folder: Path) -> str:
    """The dataset card's content hash (as geoapp.data.dataset computes it)."""
    h = hashlib.sha256()
    for name in ("cube.nc", "counties.csv", "yields.csv"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()[:16]


def _sources(years: list[int]) -> list[dict]:
    entries = [
        {
            "file": "soybean_yield_quickstats.csv",
            "size": 48_213,
            "sha256": "9f2c" + "0" * 60,
            "kind": "yields",
            "crs": None,
            "units": "bu/acre",
        },
        {
            "file": "srtm_elevation.tif",
            "size": 2_310_144,
            "sha256": "a1" * 32,
            "crs": "EPSG:4326",
            "units": "m",
            "band": "elevation",
        },
    ]
    for year in years[-2:]:
        for month in (6, 7):
            entries.append(
                {
                    "file": f"MOD13A3_ndvi_{year}_{month:02d}.tif",
                    "size": 1_048_576,
                    "sha256": f"{year:04d}{month:02d}" + "b" * 58,
                    "crs": "SR-ORG:6974 (MODIS sinusoidal)",
                    "units": "1",
                    "band": "ndvi",
                    "year": year,
                    "month": month,
                    "scale": 0.0001,
                    "offset": 0.0,
                }
            )
    return entries


def make_real_standin(simulated: Path, out: Path) -> Path:
    """Copy the simulated dataset folder ``simulated`` to ``out`` and make it look built from real files."""
    shutil.copytree(simulated, out)
    (out / "truth.json").unlink()
    counties = pd.read_csv(out / "counties.csv", dtype={"geoid": str})
    counties["anchor_source"] = ["interior" if i % 25 == 0 else "cropland" for i in range(len(counties))]
    counties.to_csv(out / "counties.csv", index=False)
    yields = pd.read_csv(out / "yields.csv", dtype={"geoid": str})
    yields.drop(columns=[c for c in ("expected",) if c in yields.columns]).to_csv(out / "yields.csv", index=False)
    card = json.loads((out / "dataset.json").read_text())
    card.pop("simulation_config", None)
    card.update(
        name="ia_il_soybean_real",
        title=TITLE,
        simulated=False,
        description="County soybean yields from a NASS Quick Stats export; inputs reprojected from the user's rasters.",
        sources=_sources(card["years"]),
        fingerprint=_fingerprint(out),
    )
    (out / "dataset.json").write_text(json.dumps(card, indent=1))
    return out
