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
labels", its card stays ``simulated`` and names its source (``noise_free_of``). A dataset built from
real files has no noise-free yields and is refused. The cube is hard-linked where the file system
allows (no second 100 MB file), else copied; the folder is written whole or not at all. The copy's
labels replace the observed ones: score its checkpoints against the source's ``yields.csv`` (joined on
geoid and year), since a checkpoint of the copy is refused on the source (another fingerprint).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from geoapp import __version__
from geoapp.data.args import as_path
from geoapp.data.dataset import CARD, check_output_folder, load_dataset, rebuild_hint
from geoapp.data.fingerprint import content_hashes
from geoapp.errors import DataFileError, InputError
from geoapp.fileio import atomic_folder, link_or_copy

__all__ = ["write_noise_free_copy", "NOISE_FREE_SUFFIX"]

NOISE_FREE_SUFFIX = "_noise_free"
"""Appended to the source dataset's name in the copy's card."""

TITLE_SUFFIX = ", noise-free labels"
DESCRIPTION_NOTE = (
    " A copy whose labelled county yields are the noise-free ones (yields.csv 'expected'; the source in "
    "noise_free_of): a diagnostic, not observed yields."
)
"""Appended to the copy's title and description."""


def write_noise_free_copy(source: str | os.PathLike[str], out: str | os.PathLike[str], force: bool = False) -> Path:
    """Write ``source`` (a simulated dataset folder) to ``out`` with each labelled yield set to its noise-free value.

    Units stay bu/acre; the cube, counties, truth and grid (EPSG:5070) are the source's. The card's
    fingerprint and file hashes are those of the copy's files, so checkpoints trained on it record
    the copy, not the source; ``noise_free_of`` names the source (name, folder, fingerprint), and a
    rebuild hint for the copy repeats this command. ``truth.json`` is the source's: its noise floor
    describes the observed yields, not the copy's labels (which have none). geoapp replaces a cube by
    renaming a new file over it, so rebuilding the source leaves the copy's linked cube as it was.

    Returns:
        ``out``.

    Raises:
        InputError: ``source`` is not simulated (a real dataset has no noise-free yields), or ``out``
            may not be written (:func:`~geoapp.data.dataset.check_output_folder`: a folder holding
            other files; an existing dataset without ``force``), or ``out`` is ``source`` or inside it.
        DatasetChangedError: ``source``'s files changed since its card was written.
        DataFileError: a simulated dataset without noise-free yields (an ``expected`` column, finite on
            every labelled row), or as :func:`~geoapp.data.dataset.load_dataset`.
        MissingDataError: ``source`` does not exist.
    """
    src = as_path(source, "source")
    target = as_path(out, "out")
    ds = load_dataset(src)
    try:
        if not ds.simulated:
            raise InputError(
                f"dataset {str(src)!r} is not simulated: only a simulated dataset knows its noise-free yields; give a "
                "simulated dataset folder, e.g. data/corn_belt_sim_demo"
            )
        ds.verify_fingerprint()  # a copy must not bless files its source's card no longer describes
        yields, card = ds.yields.copy(), dict(ds.card)
    finally:
        ds.close()
    labelled = yields["labelled"].to_numpy(dtype=bool)
    expected = pd.to_numeric(yields["expected"], errors="coerce") if "expected" in yields.columns else None
    if expected is None or not np.isfinite(expected[labelled]).all():
        bad = "has no 'expected' column" if expected is None else "has labelled rows without a finite 'expected' yield"
        raise DataFileError(
            f"simulated dataset {str(src)!r}: yields.csv {bad}, so its noise-free yields are unknown; rebuild it "
            f"({rebuild_hint(src, card)})"
        )
    if target.resolve() == src.resolve() or target.resolve().is_relative_to(src.resolve()):
        raise InputError(f"out (--out) {str(target)!r} is the source dataset or inside it; give a folder outside {str(src)!r}")
    check_output_folder(target, force)
    yields.loc[labelled, "yield"] = expected[labelled]
    source_name = str(card.get("name", src.name))
    card |= {
        "name": source_name if source_name.endswith(NOISE_FREE_SUFFIX) else source_name + NOISE_FREE_SUFFIX,
        "title": _with_suffix(str(card.get("title", source_name)), TITLE_SUFFIX),
        "description": _with_suffix(str(card.get("description", "")), DESCRIPTION_NOTE),
        "noise_free_of": {"name": source_name, "path": str(src.resolve()), "fingerprint": card.get("fingerprint")},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "geoapp_version": __version__,
    }
    with atomic_folder(target) as tmp:
        link_or_copy(src / "cube.nc", tmp / "cube.nc")
        for file_name in ("counties.csv", "truth.json"):
            if (src / file_name).is_file():
                shutil.copy2(src / file_name, tmp / file_name)
        yields.to_csv(tmp / "yields.csv", index=False, float_format="%.3f")
        card["fingerprint"], card["file_sha256"] = content_hashes(tmp)
        (tmp / CARD).write_text(json.dumps(card, indent=1), encoding="utf-8")
    return target


def _with_suffix(text: str, suffix: str) -> str:
    """``text`` ending in ``suffix`` once (a copy of a copy does not repeat it)."""
    return text if text.endswith(suffix) else (text + suffix).strip()
