"""A yield dataset on disk: a cube, county anchors, county yields, a card and (when simulated) the truth.

A dataset is a folder::

    dataset.json    the card: name, title, simulated flag, grid, tile size, years, fingerprint
                    (real data also: sources, states, bands, counts, build settings)
    cube.nc         inputs (see geoapp.data.cube), EPSG:5070
    counties.csv    geoid, name, state, n_pixels, cropland_km2, anchor_row, anchor_col, anchor_lat, anchor_lon
                    [, anchor_source: "cropland" or "interior" for real data]
    yields.csv      geoid, year, yield (bu/acre, empty when withheld), labelled [, expected]
    truth.json      simulated datasets only: the true drivers (geoapp.data.simulate)

Simulated folders come from :func:`save_simulated`; real ones from the user's rasters, land-cover map and
NASS yields via :func:`geoapp.data.real_dataset.build_real_dataset`. Both open with :func:`load_dataset`.
Folders are written under a temporary name and renamed, so a reader never sees half a dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from geoapp import __version__
from geoapp.data.cube import cube_grid, open_cube, save_cube
from geoapp.data.grid import Grid
from geoapp.data.simulate import SIMULATION_CONFIGS, SimulatedDataset, simulate
from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.fileio import atomic_folder
from geoapp.paths import data_dir

__all__ = [
    "YieldDataset",
    "save_simulated",
    "load_dataset",
    "default_dataset_path",
    "build_default_dataset",
    "ensure_default_dataset",
    "list_datasets",
    "is_dataset_folder",
    "card_basics",
    "COUNTY_COLUMNS",
]

CARD = "dataset.json"

COUNTY_COLUMNS: tuple[str, ...] = ("geoid", "name", "state", "anchor_row", "anchor_col", "anchor_lat", "anchor_lon")
"""Columns of counties.csv that every consumer reads (both kinds of dataset have more)."""


@dataclass
class YieldDataset:
    """A dataset folder opened for reading (the cube is read lazily).

    Attributes:
        root: the folder.
        card: the parsed ``dataset.json``.
        cube: the input cube (lazy xarray Dataset).
        counties: county table with anchor pixels (``geoid`` as 5-character strings).
        yields: county yields, one row per (geoid, year); ``yield`` NaN where withheld.
        truth: the simulation's true drivers, or None for real data.
    """

    root: Path
    card: dict
    cube: xr.Dataset
    counties: pd.DataFrame
    yields: pd.DataFrame
    truth: dict | None

    @property
    def simulated(self) -> bool:
        """True when the data come from geoapp's simulation (the app labels them so)."""
        return bool(self.card.get("simulated", False))

    @property
    def name(self) -> str:
        """Short dataset name (the folder name)."""
        return self.root.name

    @property
    def title(self) -> str:
        """Human-readable title; for simulated data it always says so.

        "(simulated)" is appended unless the title already contains the word.
        """
        title = str(self.card.get("title", self.name))
        return f"{title} (simulated)" if self.simulated and "simulated" not in title.lower() else title

    @property
    def grid(self) -> Grid:
        """The cube's grid."""
        return cube_grid(self.cube)

    @property
    def years(self) -> list[int]:
        """Years present in the cube."""
        return [int(y) for y in self.cube["year"].values]

    @property
    def tile_px(self) -> int:
        """Anchor tile size in pixels."""
        return int(self.card["tile_px"])

    @property
    def fingerprint(self) -> str:
        """Content hash of the dataset (checkpoints record it to detect a data mismatch).

        Simulated: a hash of the files; real: a hash of the content and the build settings.
        """
        return str(self.card["fingerprint"])

    @property
    def sources(self) -> list[dict]:
        """The files a real dataset was built from, one entry per file (per raster slot), or [] if none.

        Each entry: ``kind``, ``file``, ``size`` (bytes), ``sha256`` and, for rasters, ``band``, ``year``,
        ``month``, ``crs``, ``units`` and the ``scale``/``offset`` applied (see geoapp.data.real_dataset).
        """
        sources = self.card.get("sources")
        return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []

    def labelled(self, year: int | None = None) -> pd.DataFrame:
        """Rows of :attr:`yields` that carry a label (optionally of one year)."""
        df = self.yields[self.yields["labelled"]]
        return df if year is None else df[df["year"] == int(year)]

    def year_yields(self, year: int) -> pd.Series:
        """Labelled yields (bu/acre) of ``year`` indexed by geoid."""
        df = self.labelled(year)
        return pd.Series(df["yield"].to_numpy(), index=df["geoid"].to_numpy(), name=f"yield {year}")

    def county_label(self, geoid: str) -> str:
        """The label "Name, ST" for a geoid (the geoid itself if unknown)."""
        row = self.counties[self.counties["geoid"] == str(geoid)]
        return str(geoid) if row.empty else f"{row['name'].iloc[0]}, {row['state'].iloc[0]}"

    def close(self) -> None:
        """Close the cube file."""
        self.cube.close()


def _fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("cube.nc", "counties.csv", "yields.csv"):
        with open(folder / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def card_basics(cube: xr.Dataset, counties: pd.DataFrame, yields: pd.DataFrame, tile_px: int) -> dict[str, object]:
    """The card fields every dataset has, simulated or real: tile size, years, grid, counts, creation.

    Args:
        cube: the dataset's cube.
        counties: its county table.
        yields: its yields table (with ``labelled``).
        tile_px: anchor tile size in pixels.
    """
    return {
        "tile_px": int(tile_px),
        "years": [int(y) for y in cube["year"].values],
        "grid": cube_grid(cube).to_attrs(),
        "n_counties": int(len(counties)),
        "labelled_rows": int(yields["labelled"].sum()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "geoapp_version": __version__,
    }


def is_dataset_folder(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding a dataset card (so replacing it loses no other files)."""
    return Path(path).is_dir() and (Path(path) / CARD).is_file()


def _write_folder(target: Path, write) -> Path:
    """Call ``write(tmp_folder)`` then atomically move the folder onto ``target`` (replacing it)."""
    with atomic_folder(target) as tmp:
        write(tmp)
    return target


def save_simulated(sim: SimulatedDataset, out_dir: str | os.PathLike[str]) -> Path:
    """Write a :class:`SimulatedDataset` as a dataset folder at ``out_dir`` (atomically)."""
    cfg = sim.config

    def write(tmp: Path) -> None:
        save_cube(sim.cube, tmp / "cube.nc")
        sim.counties.to_csv(tmp / "counties.csv", index=False)
        sim.yields.to_csv(tmp / "yields.csv", index=False, float_format="%.3f")
        (tmp / "truth.json").write_text(json.dumps(sim.truth, indent=1))
        card = {
            "name": f"corn_belt_sim_{cfg.name}",
            "title": sim.cube.attrs["title"],
            "simulated": True,
            "description": "Simulated Corn Belt on real 2016 Census county polygons; see docs/simulated-data.md.",
            "simulation_config": asdict(cfg),
            **card_basics(sim.cube, sim.counties, sim.yields, cfg.tile_px),
        }
        card["fingerprint"] = _fingerprint(tmp)
        (tmp / CARD).write_text(json.dumps(card, indent=1))

    return _write_folder(Path(out_dir), write)


def load_dataset(path: str | os.PathLike[str]) -> YieldDataset:
    """Open the dataset folder at ``path``.

    Raises:
        MissingDataError: if the folder does not exist (build it with ``python -m geoapp data build``).
        DataFileError: if a file is missing or garbled.
    """
    root = Path(path)
    if not root.is_dir():
        raise MissingDataError(
            f"dataset folder {str(root)!r} does not exist; build the default one with `python -m geoapp data build`"
        )
    missing = [n for n in (CARD, "cube.nc", "counties.csv", "yields.csv") if not (root / n).exists()]
    if missing:
        raise DataFileError(f"dataset {str(root)!r} lacks {missing!r}; rebuild it with `python -m geoapp data build`")
    try:
        card = json.loads((root / CARD).read_text())
        counties = pd.read_csv(root / "counties.csv", dtype={"geoid": str})
        yields = pd.read_csv(root / "yields.csv", dtype={"geoid": str})
        truth_path = root / "truth.json"
        truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    except (json.JSONDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFileError(f"dataset {str(root)!r} has a garbled or empty file: {exc}") from exc
    if not isinstance(card, dict):
        raise DataFileError(f"{str(root / CARD)!r} is not a JSON object; rebuild the dataset")
    for col in ("geoid", "year", "yield", "labelled"):
        if col not in yields.columns:
            raise DataFileError(f"{str(root / 'yields.csv')!r} lacks column {col!r}")
    absent = [c for c in COUNTY_COLUMNS if c not in counties.columns]
    if absent:
        raise DataFileError(f"{str(root / 'counties.csv')!r} lacks column(s) {absent!r}; expected {list(COUNTY_COLUMNS)!r}")
    if "tile_px" not in card:
        raise DataFileError(f"{str(root / CARD)!r} lacks 'tile_px'")
    yields["labelled"] = yields["labelled"].astype(bool)
    cube = open_cube(root / "cube.nc")
    return YieldDataset(root=root, card=card, cube=cube, counties=counties, yields=yields, truth=truth)


def default_dataset_path(config: str = "demo") -> Path:
    """Folder of the embedded simulated dataset for a configuration (``demo`` or ``paper``)."""
    if config not in SIMULATION_CONFIGS:
        raise InputError(f"unknown dataset configuration {config!r}; expected one of {list(SIMULATION_CONFIGS)!r}")
    return data_dir() / f"corn_belt_sim_{config}"


def build_default_dataset(config: str = "demo", progress: bool = True, out_dir: str | os.PathLike[str] | None = None) -> Path:
    """Simulate and save the embedded dataset for ``config``; returns its folder."""
    target = Path(out_dir) if out_dir is not None else default_dataset_path(config)
    sim = simulate(config, progress=progress)
    return save_simulated(sim, target)


def ensure_default_dataset(config: str = "demo", progress: bool = True) -> Path:
    """The embedded dataset's folder, building it first if it is missing."""
    path = default_dataset_path(config)
    if not (path / CARD).exists():
        build_default_dataset(config, progress=progress)
    return path


def list_datasets(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Dataset folders (those holding a ``dataset.json``) directly under ``root`` (default: data dir)."""
    base = Path(root) if root is not None else data_dir()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / CARD).exists())
