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
NASS yields via :func:`geoapp.data.real_dataset.build_real_dataset`. Both open with :func:`load_dataset`,
which checks the card and the tables (:mod:`geoapp.data.dataset_checks`); training and evaluation also
call :meth:`YieldDataset.verify_fingerprint`, which checks that the files are still those the card
describes (:mod:`geoapp.data.fingerprint`).

Folders are written under a temporary name and renamed, so a reader never sees half a dataset; and
:func:`check_output_folder` decides, before any work, whether an output folder may be written at all:
geoapp replaces a dataset folder it wrote, never a folder holding anything else.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from geoapp import __version__
from geoapp.data.args import as_bool, as_int, as_optional_path, as_path, given
from geoapp.data.cube import cube_grid, open_cube, save_cube
from geoapp.data.dataset_checks import validate_card, validate_counties, validate_yields
from geoapp.data.fingerprint import DATA_FILES, SIDECAR, FileCheck, check_files, content_hashes
from geoapp.data.grid import Grid
from geoapp.data.simulate import SIMULATION_CONFIGS, SimulatedDataset, SimulationTables, write_simulation
from geoapp.errors import DataFileError, DatasetChangedError, InputError, MissingDataError, OutputExistsError
from geoapp.fileio import atomic_folder, check_writable, remove_stale_temporaries
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
    "check_output_folder",
    "card_basics",
    "dataset_year",
    "COUNTY_COLUMNS",
    "SIMULATED_CROP",
]

CARD = "dataset.json"

SIMULATED_CROP = "soybeans"
"""The crop geoapp's simulation models (docs/simulated-data.md): county yields in bu/acre."""

COUNTY_COLUMNS: tuple[str, ...] = ("geoid", "name", "state", "anchor_row", "anchor_col", "anchor_lat", "anchor_lon")
"""Columns of counties.csv that every consumer reads (both kinds of dataset have more)."""

DATASET_ENTRIES: frozenset[str] = frozenset({CARD, *DATA_FILES, "truth.json", SIDECAR})
"""What geoapp writes in a dataset folder; anything else there is the user's, and blocks replacing the folder."""

_IGNORED_ENTRIES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
"""Files file browsers drop in any folder they show (lost without regret when a dataset is replaced)."""


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
    def crop(self) -> str:
        """The crop whose county yields the dataset holds, lower case.

        The simulation's (``"soybeans"``), or the Quick Stats commodity a real dataset was built from
        (``build_settings.commodity``).
        """
        if self.simulated:
            return SIMULATED_CROP
        settings = self.card.get("build_settings")
        commodity = settings.get("commodity") if isinstance(settings, dict) else None
        return str(commodity).lower() if commodity else "unknown crop"

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
        """The card's content hash of the dataset (checkpoints record it to detect a data mismatch).

        Simulated: a hash of the files; real: a hash of the content and the build settings. This is
        what the card says; :meth:`check_files` / :meth:`verify_fingerprint` check that the files in
        the folder still match it.
        """
        return str(self.card["fingerprint"])

    def check_files(self) -> FileCheck:
        """Whether the folder's data files are those the card's fingerprint describes (see :mod:`geoapp.data.fingerprint`)."""
        return check_files(self.root, self.card)

    def verify_fingerprint(self) -> str:
        """Refuse a dataset whose files changed since its card was written; returns the fingerprint.

        Call it before training on or evaluating a dataset: a replaced ``cube.nc`` keeps the card's
        fingerprint, so without this check a checkpoint would record data it never saw.

        Raises:
            DatasetChangedError: naming the files that changed and how to rebuild.
        """
        check = self.check_files()
        if not check.ok:
            raise DatasetChangedError(
                f"dataset {str(self.root)!r}: the files changed since its card was written "
                f"({', '.join(check.changed) if check.changed else 'one of ' + ', '.join(DATA_FILES)} no longer match "
                f"fingerprint {self.fingerprint}), so the card no longer describes them; {rebuild_hint(self.root, self.card)}"
            )
        return self.fingerprint

    @property
    def sources(self) -> list[dict]:
        """The files a real dataset was built from, one entry per file (per raster slot), or [] if none.

        Each entry: ``kind``, ``file``, ``size`` (bytes), ``sha256`` and, for rasters, ``band``, ``year``,
        ``month``, ``crs``, ``units`` and the ``scale``/``offset`` applied (see geoapp.data.real_dataset).
        """
        sources = self.card.get("sources")
        return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []

    def labelled(self, year: int | str | None = None) -> pd.DataFrame:
        """Rows of :attr:`yields` that carry a label (optionally of one year: empty for a year without labels).

        ``year`` is a whole number, or its digits as text (``"2013"``, as a table or a widget gives it).

        Raises:
            InputError: ``year`` is not None, a whole number or the digits of one (a float such as 2015.7,
                a bool, other text): it is never rounded.
        """
        df = self.yields[self.yields["labelled"]]
        return df if year is None else df[df["year"] == _year_value(year)]

    def year_yields(self, year: int | str) -> pd.Series:
        """Labelled yields (bu/acre) of ``year`` (as :meth:`labelled` takes it) indexed by geoid.

        Raises:
            InputError: ``year`` is not a whole number or the digits of one.
        """
        year = _year_value(year)
        df = self.labelled(year)
        return pd.Series(df["yield"].to_numpy(), index=df["geoid"].to_numpy(), name=f"yield {year}")

    def county_label(self, geoid: str) -> str:
        """The label "Name, ST" for a geoid (the geoid itself if unknown)."""
        row = self.counties[self.counties["geoid"] == str(geoid)]
        return str(geoid) if row.empty else f"{row['name'].iloc[0]}, {row['state'].iloc[0]}"

    def close(self) -> None:
        """Close the cube file."""
        self.cube.close()


def _year_value(year: object) -> int:
    """A year given as a whole number or as its digits in text; anything else is an InputError."""
    if isinstance(year, str) and year.strip().isdigit():
        return int(year.strip())
    return as_int(year, "year")


def dataset_year(ds: YieldDataset, year: object) -> int:
    """``year`` as an int, refused (naming the years the dataset holds) when it is not one of them.

    Only whole numbers (``int``, NumPy integers) are years: text such as ``"2018"``, floats (``2018.0``)
    and bools are refused, never converted.

    Raises:
        InputError: ``ds`` is not a loaded dataset, ``year`` is not a whole number, or the cube has no such year.
    """
    if not isinstance(ds, YieldDataset):
        raise InputError(f"ds must be a dataset from load_dataset, got {given(ds)}; load it with load_dataset(<folder>)")
    value = as_int(year, "year")
    if value not in ds.years:
        labelled = sorted({int(y) for y in ds.labelled()["year"]})
        held = f"{min(ds.years)}..{max(ds.years)}" if ds.years else "no years"
        with_labels = f"{labelled[0]}..{labelled[-1]}" if labelled else "none"
        raise InputError(
            f"year {value} is not in dataset {ds.name!r}: it holds {held} (with yields: {with_labels}); choose one of those"
        )
    return value


def _fingerprint(folder: Path) -> str:
    """A simulated dataset's fingerprint: the hash of its data files' bytes."""
    return content_hashes(folder)[0]


def rebuild_hint(root: Path, card: dict | None = None) -> str:
    """How to rebuild the dataset at ``root``: the simulation's command, or the real build's (see docs/real-data.md)."""
    for config in SIMULATION_CONFIGS:
        if Path(root).absolute() == default_dataset_path(config).absolute():
            flag = "" if config == "demo" else f" --config {config}"
            return f"rebuild it with `python -m geoapp data build{flag} --force`"
    source = (card or {}).get("noise_free_of")
    if isinstance(source, dict) and source.get("path"):  # a noise-free copy (geoapp.data.noise_free)
        return f"write the copy again with `python -m geoapp data noise-free --path {source['path']} --out {root} --force`"
    if card is not None and card.get("simulated"):
        config = (card.get("simulation_config") or {}).get("name", "demo")
        flag = f" --config {config}" if config in SIMULATION_CONFIGS and config != "demo" else ""
        return f"rebuild it with `python -m geoapp data build{flag} --out {root} --force`"
    return (
        f"rebuild it from your files with `python -m geoapp data build --manifest ... --yields ... --out {root} --force` "
        "(see docs/real-data.md)"
    )


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
    """True when ``path`` is a folder holding a dataset card.

    Raises:
        InputError: ``path`` is not a path (None, a number).
    """
    path = as_path(path, "path")
    return path.is_dir() and (path / CARD).is_file()


def check_output_folder(out: str | os.PathLike[str], force: bool) -> bool:
    """Decide, before any work, whether a dataset may be written at ``out``; True when it replaces one.

    A new folder, or an empty one, is fine. A dataset folder (holding ``dataset.json`` and nothing
    but what geoapp writes) is replaced only with ``force``. Anything else is refused whatever
    ``force`` says, since replacing a folder deletes what is in it. Stale temporaries of ``out``
    left by a killed build are removed (:func:`geoapp.fileio.remove_stale_temporaries`).

    Raises:
        OutputExistsError: ``out`` is a dataset folder and ``force`` is False.
        InputError: ``out`` is a file, the current folder or one above it, a folder of other files,
            or a dataset folder holding files geoapp did not write.
        DataFileError: the folder ``out`` would be written in cannot be written.
    """
    out = as_path(out, "out")
    force = as_bool(force, "force")
    where = repr(str(out))
    here = Path.cwd().resolve()
    resolved = out.resolve()
    if resolved == here or resolved in here.parents:
        raise InputError(
            f"output folder {where} is the current folder (or a folder above it); a dataset is written as a new "
            "folder that replaces the output whole: give a new folder, e.g. data/my_dataset"
        )
    if out.exists() and not out.is_dir():
        raise InputError(f"output {where} exists and is a file; expected a new folder for the dataset")
    remove_stale_temporaries(out)
    check_writable(out)
    if not out.exists():
        return False
    entries = sorted(p.name for p in out.iterdir() if p.name not in _IGNORED_ENTRIES)
    if not entries:
        return False  # an empty folder: nothing to lose
    if not is_dataset_folder(out):
        raise InputError(
            f"output folder {where} exists but holds no {CARD}, so it is not a geoapp dataset; geoapp will not "
            f"replace a folder of other files ({_examples(entries)}): choose a new folder"
        )
    foreign = [name for name in entries if name not in DATASET_ENTRIES]
    if foreign:
        raise InputError(
            f"dataset folder {where} also holds files geoapp did not write ({_examples(foreign)}); replacing it would "
            "delete them: move them out first, or choose a new folder"
        )
    if not force:
        raise OutputExistsError(f"output folder {where} already exists; pass force=True (--force) to replace the dataset in it")
    return True


def _examples(names: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(x) for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _write_folder(target: Path, write) -> Path:
    """Call ``write(tmp_folder)`` then atomically move the folder onto ``target`` (replacing it)."""
    with atomic_folder(target) as tmp:
        write(tmp)
    return target


def save_simulated(sim: SimulatedDataset, out_dir: str | os.PathLike[str], force: bool = True) -> Path:
    """Write a :class:`SimulatedDataset` as a dataset folder at ``out_dir`` (atomically).

    ``out_dir`` may be new, empty, or (with ``force``) a dataset folder to replace; see
    :func:`check_output_folder` for what is refused.

    Raises:
        InputError: ``sim`` is not a :class:`SimulatedDataset`, or ``out_dir`` is not a path.
    """
    if not isinstance(sim, SimulatedDataset):
        raise InputError(f"sim must be a SimulatedDataset (from geoapp.data.simulate.simulate), got {given(sim)}")
    check_output_folder(out_dir, force)

    def write(tmp: Path) -> None:
        save_cube(sim.cube, tmp / "cube.nc")
        tables = SimulationTables(sim.cube.attrs["title"], sim.counties, sim.yields, sim.truth, sim.config)
        _write_simulated_tables(tmp, tables, sim.cube)

    return _write_folder(Path(out_dir), write)


def _write_simulated_tables(tmp: Path, tables: SimulationTables, cube: xr.Dataset) -> None:
    """Write the tables, the truth and, last, the card of a simulated dataset whose cube is in ``tmp``."""
    cfg = tables.config
    tables.counties.to_csv(tmp / "counties.csv", index=False)
    tables.yields.to_csv(tmp / "yields.csv", index=False, float_format="%.3f")
    (tmp / "truth.json").write_text(json.dumps(tables.truth, indent=1))
    card = {
        "name": f"corn_belt_sim_{cfg.name}",
        "title": tables.title,
        "simulated": True,
        "description": "Simulated Corn Belt on real 2016 Census county polygons; see docs/simulated-data.md.",
        "simulation_config": asdict(cfg),
        **card_basics(cube, tables.counties, tables.yields, cfg.tile_px),
    }
    card["fingerprint"], card["file_sha256"] = content_hashes(tmp)
    (tmp / CARD).write_text(json.dumps(card, indent=1))


def load_dataset(path: str | os.PathLike[str]) -> YieldDataset:
    """Open the dataset folder at ``path``, checking its card and tables (:mod:`geoapp.data.dataset_checks`).

    The files are not hashed here (that is :meth:`YieldDataset.verify_fingerprint`, for training and
    evaluation), so opening stays quick.

    Raises:
        MissingDataError: if the folder does not exist (the message says how to build it).
        DataFileError: if a file is missing or garbled, or a value is not what the dataset format allows
            (naming the file, the row and the column).
    """
    root = as_path(path, "path")
    where = repr(str(root))
    if not root.exists():
        raise MissingDataError(f"dataset folder {where} does not exist; {_build_hint(root)}")
    if not root.is_dir():
        raise DataFileError(f"{where} is a file, not a dataset folder; give the folder that holds its {CARD} and cube.nc")
    missing = [n for n in (CARD, *DATA_FILES) if not (root / n).exists()]
    if CARD in missing:
        if len(missing) == 1 + len(DATA_FILES):
            raise DataFileError(
                f"folder {where} is not a geoapp dataset (it holds none of {[CARD, *DATA_FILES]!r}); give the folder "
                f"of a dataset, or {_build_hint(root)}"
            )
        raise DataFileError(
            f"dataset {where} lacks {missing!r}, so it is not a complete geoapp dataset; move the folder away "
            f"and build it again ({_build_hint(root)})"
        )
    try:
        card = json.loads((root / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
        raise DataFileError(f"dataset {where} has a garbled or empty file: {CARD}: {exc}") from exc
    validate_card(card, root / CARD)
    if missing:
        raise DataFileError(f"dataset {where} lacks {missing!r}; {rebuild_hint(root, card)}")
    folders = [n for n in DATA_FILES if (root / n).is_dir()]
    if folders:
        raise DataFileError(f"dataset {where}: {folders[0]!r} is a folder where a file was expected; {rebuild_hint(root, card)}")
    counties = _read_table(root, "counties.csv", card)
    yields = _read_table(root, "yields.csv", card)
    truth_path = root / "truth.json"
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8")) if truth_path.is_file() else None
    except (OSError, ValueError, RecursionError) as exc:
        hint = rebuild_hint(root, card)
        raise DataFileError(f"dataset {where} has a garbled or empty file: truth.json: {exc}; {hint}") from exc
    for col in ("geoid", "year", "yield", "labelled"):
        if col not in yields.columns:
            raise DataFileError(f"{str(root / 'yields.csv')!r} lacks column {col!r}; {rebuild_hint(root, card)}")
    absent = [c for c in COUNTY_COLUMNS if c not in counties.columns]
    if absent:
        raise DataFileError(f"{str(root / 'counties.csv')!r} lacks column(s) {absent!r}; expected {list(COUNTY_COLUMNS)!r}")
    if truth is not None and not isinstance(truth, dict):
        raise DataFileError(f"{str(root / 'truth.json')!r} is not a JSON object; rebuild the dataset")
    cube = open_cube(root / "cube.nc")
    try:
        grid = cube_grid(cube)
        if card["tile_px"] > min(grid.shape):
            raise DataFileError(
                f"{str(root / CARD)!r}: 'tile_px' {card['tile_px']!r} is larger than the grid ({grid.height} x "
                f"{grid.width} pixels); a tile must fit on the grid: {rebuild_hint(root, card)}"
            )
        counties = validate_counties(counties, root / "counties.csv", grid.shape)
        years = [int(y) for y in cube["year"].values]
        yields = validate_yields(yields, root / "yields.csv", counties["geoid"], years)
    except BaseException:
        cube.close()
        raise
    return YieldDataset(root=root, card=card, cube=cube, counties=counties, yields=yields, truth=truth)


def _read_table(root: Path, name: str, card: dict) -> pd.DataFrame:
    """``root/name`` as a DataFrame (``geoid`` as text); an empty, ragged or non-UTF-8 file is a DataFileError naming it."""
    path = root / name
    try:
        return pd.read_csv(path, dtype={"geoid": str}, encoding="utf-8")
    except pd.errors.EmptyDataError:
        reason = "is empty (no header, no rows)"
    except pd.errors.ParserError as exc:
        reason = f"is not a well-formed CSV table ({' '.join(str(exc).split())})"
    except UnicodeDecodeError as exc:
        reason = f"is not UTF-8 text ({exc.reason} at byte {exc.start}; saved in another encoding?)"
    except (OSError, ValueError) as exc:
        reason = f"cannot be read ({exc})"
    raise DataFileError(f"dataset {str(root)!r}: {name} {reason}; {rebuild_hint(root, card)}")


def _build_hint(root: Path) -> str:
    """How to build the dataset meant at ``root`` (the embedded one's command for its configuration)."""
    for config in SIMULATION_CONFIGS:
        if root.absolute() == default_dataset_path(config).absolute():
            flag = "" if config == "demo" else f" --config {config}"
            return f"build it with `python -m geoapp data build{flag}`"
    return (
        "build the embedded one with `python -m geoapp data build`, or one from your files (`python -m geoapp data "
        "build --manifest ... --yields ... --out FOLDER`, see docs/real-data.md), and give its folder"
    )


def default_dataset_path(config: str = "demo") -> Path:
    """Folder of the embedded simulated dataset for a configuration (``demo`` or ``paper``)."""
    if not isinstance(config, str) or config not in SIMULATION_CONFIGS:
        raise InputError(f"unknown dataset configuration {config!r}; expected one of {list(SIMULATION_CONFIGS)!r}")
    return data_dir() / f"corn_belt_sim_{config}"


def build_default_dataset(
    config: str = "demo",
    progress: bool = True,
    out_dir: str | os.PathLike[str] | None = None,
    force: bool = True,
    scheduler: str | None = None,
    memory_gb: float = 3.0,
) -> Path:
    """Simulate and save the embedded dataset for ``config``; returns its folder.

    The output folder is checked first (:func:`check_output_folder`), so a folder that cannot be
    written or must not be replaced is refused before the simulation runs. The cube is written year
    by year as the years are simulated (:func:`~geoapp.data.simulate.write_simulation`: dask threads,
    or the dask.distributed scheduler at ``scheduler``; about ``memory_gb`` at most), inside a
    temporary folder whose card is written last and which replaces ``out_dir`` only when complete:
    a build killed half-way leaves no dataset, and the next build removes its leftovers.
    """
    target = as_optional_path(out_dir, "out_dir") or default_dataset_path(config)
    progress = as_bool(progress, "progress")
    check_output_folder(target, force)

    def write(tmp: Path) -> None:
        tables = write_simulation(config, tmp / "cube.nc", progress=progress, scheduler=scheduler, memory_gb=memory_gb)
        with open_cube(tmp / "cube.nc") as cube:
            _write_simulated_tables(tmp, tables, cube)

    return _write_folder(target, write)


def ensure_default_dataset(config: str = "demo", progress: bool = True) -> Path:
    """The embedded dataset's folder, building it first if it is missing."""
    path = default_dataset_path(config)
    if not (path / CARD).exists():
        build_default_dataset(config, progress=progress)
    return path


def list_datasets(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Dataset folders (those holding a ``dataset.json``) directly under ``root`` (default: data dir)."""
    base = as_optional_path(root, "root") or data_dir()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / CARD).exists())
