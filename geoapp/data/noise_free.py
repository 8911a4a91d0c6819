"""A copy of a simulated dataset whose county yields are the noise-free ones: a diagnostic only a simulation allows.

A simulated county yield is its noise-free value (``expected`` in ``yields.csv``: potential, stresses,
trend and county effect, [simulated-data.md](../../docs/simulated-data.md)) plus the county-year and
pixel noise. :func:`write_noise_free_copy` writes a dataset folder with the same cube, counties and
labelled county-years, where each labelled ``yield`` is replaced by its ``expected`` value. A model
trained on the copy and scored against the observed yields of the original says how much of its
error the labels' noise causes (through training and through a residual calibration) and how much
its reading of the tiles: ``python -m geoapp data noise-free --out DIR``
([crop-yield-model.md](../../docs/crop-yield-model.md), "Label noise against reading the tiles").

The copy is labelled as what it is: its name ends in ``_noise_free``, its title says "noise-free
labels", its card stays ``simulated``. A dataset built from real files has no noise-free yields and
is refused. The cube is hard-linked where the file system allows (no second 100 MB file), else
copied; the folder is written whole or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from geoapp.data.args import as_path
from geoapp.data.dataset import CARD, check_output_folder, load_dataset
from geoapp.data.fingerprint import content_hashes
from geoapp.errors import InputError
from geoapp.fileio import atomic_folder

__all__ = ["write_noise_free_copy", "NOISE_FREE_SUFFIX"]

NOISE_FREE_SUFFIX = "_noise_free"
"""Appended to the source dataset's name in the copy's card."""


def write_noise_free_copy(source: str | os.PathLike[str], out: str | os.PathLike[str], force: bool = False) -> Path:
    """Write ``source`` (a simulated dataset folder) to ``out`` with each labelled yield set to its noise-free value.

    Units stay bu/acre; the cube, counties, truth and grid (EPSG:5070) are the source's. The card's
    fingerprint and file hashes are those of the copy's files, so checkpoints trained on it record
    the copy, not the source.

    Returns:
        ``out``.

    Raises:
        InputError: ``source`` is not simulated (a real dataset has no ``expected`` yields), or ``out``
            may not be written (:func:`~geoapp.data.dataset.check_output_folder`: a folder holding
            other files; an existing dataset without ``force``), or ``out`` is ``source``.
        MissingDataError, DataFileError: ``source`` cannot be opened (:func:`~geoapp.data.dataset.load_dataset`).
    """
    src = as_path(source, "source")
    target = as_path(out, "out")
    ds = load_dataset(src)
    if not ds.simulated or "expected" not in ds.yields.columns:
        raise InputError(
            f"dataset {str(src)!r} is not simulated: only a simulated dataset knows its noise-free yields "
            "(the 'expected' column of yields.csv); give a simulated dataset folder, e.g. data/corn_belt_sim_demo"
        )
    if target.resolve() == src.resolve():
        raise InputError(f"--out {str(target)!r} is the source dataset itself; give a new folder")
    check_output_folder(target, force)
    yields = pd.read_csv(src / "yields.csv", dtype={"geoid": str})
    labelled = yields["yield"].notna()
    yields.loc[labelled, "yield"] = yields.loc[labelled, "expected"]
    card = json.loads((src / CARD).read_text(encoding="utf-8"))
    with atomic_folder(target) as tmp:
        _link_or_copy(src / "cube.nc", tmp / "cube.nc")
        for name in ("counties.csv", "truth.json"):
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
        yields.to_csv(tmp / "yields.csv", index=False, float_format="%.3f")
        name = str(card.get("name", src.name))
        card |= {
            "name": name if name.endswith(NOISE_FREE_SUFFIX) else name + NOISE_FREE_SUFFIX,
            "title": f"{card.get('title', name)}, noise-free labels",
            "description": (
                f"{card.get('description', '')} A copy of {name!r} (fingerprint {card.get('fingerprint')}) whose labelled "
                "county yields are the noise-free ones (yields.csv 'expected'): a diagnostic, not observed yields."
            ).strip(),
        }
        card["fingerprint"], card["file_sha256"] = content_hashes(tmp)
        (tmp / CARD).write_text(json.dumps(card, indent=1), encoding="utf-8")
    return target


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` where the file system allows, else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
