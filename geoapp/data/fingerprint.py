"""Dataset fingerprints, and whether a dataset's files still match the one its card recorded.

A dataset card (``dataset.json``) records a ``fingerprint`` (checkpoints copy it, to tell which data a
model saw) and, since geoapp 17, ``file_sha256``: the SHA-256 of each data file as written. A folder
whose ``cube.nc`` (or a table) was replaced or edited after the build keeps the card's fingerprint,
so trusting the card would train or score on other data under the old name. :func:`check_files`
recomputes from the files what the card claims:

* the hash of the three files' bytes (the fingerprint of a simulated dataset);
* else each file's SHA-256 against ``file_sha256`` (names the files that changed);
* else, for a real dataset built before ``file_sha256`` existed, its fingerprint recomputed from the
  build settings, the sources and the cube's values (one band at a time).

Reading a large cube takes a while, so the verdict is cached in a sidecar, ``.geoapp-verified.json``
in the dataset folder, keyed by each file's size and modification time (ns) and by the card's
fingerprint: it is recomputed only when one of them changes. A folder that cannot be written just
goes without the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geoapp.data.bands import BANDS
from geoapp.data.cube_store import read_slab
from geoapp.fileio import atomic_write_text

__all__ = ["DATA_FILES", "SIDECAR", "FileCheck", "content_hashes", "real_fingerprint", "check_files"]

DATA_FILES: tuple[str, ...] = ("cube.nc", "counties.csv", "yields.csv")
"""The files a dataset's fingerprint covers, in hashing order."""

SIDECAR = ".geoapp-verified.json"
"""The cache of the last verdict, in the dataset folder (geoapp's own: replacing the folder may drop it)."""

_CACHE_VERSION = 1


@dataclass(frozen=True)
class FileCheck:
    """Whether a dataset's files match its card.

    Attributes:
        ok: True when the files are those the card's fingerprint was computed from.
        changed: the files whose content differs (empty when ``ok``, or when the card cannot say which).
    """

    ok: bool
    changed: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"unchanged since the card was written"`` or what changed."""
        if self.ok:
            return "unchanged since the card was written"
        which = ", ".join(self.changed) if self.changed else f"one of {', '.join(DATA_FILES)}"
        return f"CHANGED since the card was written ({which})"


def content_hashes(folder: str | os.PathLike[str]) -> tuple[str, dict[str, str]]:
    """Read the data files once: (the 16-hex hash of their bytes in :data:`DATA_FILES` order, each file's SHA-256).

    The first is a simulated dataset's fingerprint; the second is the card's ``file_sha256``.
    """
    folder = Path(folder)
    whole = hashlib.sha256()
    per_file: dict[str, str] = {}
    for name in DATA_FILES:
        one = hashlib.sha256()
        with open(folder / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                whole.update(block)
                one.update(block)
        per_file[name] = one.hexdigest()
    return whole.hexdigest()[:16], per_file


def real_fingerprint(settings: dict[str, Any], sources: list[dict[str, Any]], cube: xr.Dataset, folder: Path) -> str:
    """A real dataset's fingerprint: the build settings, the input files' hashes, the cube's values, the two tables.

    Paths enter as names relative to the manifest's folder and nothing records a time, so the same
    files built with the same settings give the same fingerprint on any machine. Reads ``cube`` one
    year of one band at a time (twice: the NaN mask, then the values), hashing the same bytes as the
    whole band's would be, in the same order.
    """
    h = hashlib.sha256()
    h.update(json.dumps({"settings": settings, "sources": sources}, sort_keys=True, default=str).encode())
    for band in BANDS:
        da = cube[band]
        parts = [{}] if "year" not in da.dims else [{"year": k} for k in range(da.sizes["year"])]
        for part in parts:
            h.update(np.isnan(read_slab(da, **part)).tobytes())
        for part in parts:
            values = np.ascontiguousarray(read_slab(da, **part), dtype=np.float32)
            h.update(np.nan_to_num(values, nan=0.0).tobytes())
    for name in ("counties.csv", "yields.csv"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()[:16]


def _stats(root: Path) -> dict[str, list[int]] | None:
    """Size and mtime (ns) of each data file, or None when one cannot be read."""
    try:
        return {name: [(s := (root / name).stat()).st_size, s.st_mtime_ns] for name in DATA_FILES}
    except OSError:
        return None


def _cache_key(root: Path, card: dict[str, Any]) -> dict[str, Any] | None:
    stats = _stats(root)
    if stats is None:
        return None
    recorded = {k: card.get(k) for k in ("fingerprint", "file_sha256")}
    return {"version": _CACHE_VERSION, **recorded, "stats": stats}


def _cached(root: Path, key: dict[str, Any]) -> FileCheck | None:
    try:
        entry = json.loads((root / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    changed = entry.get("changed")
    if not isinstance(entry.get("ok"), bool) or not isinstance(changed, list):
        return None
    return FileCheck(entry["ok"], tuple(str(c) for c in changed))


def _store(root: Path, key: dict[str, Any], check: FileCheck) -> None:
    try:
        atomic_write_text(root / SIDECAR, json.dumps({"key": key, "ok": check.ok, "changed": list(check.changed)}))
    except OSError:
        pass  # a read-only folder: no cache, the check still holds


def _compute(root: Path, card: dict[str, Any]) -> FileCheck:
    missing = tuple(n for n in DATA_FILES if not (root / n).is_file())
    if missing:
        return FileCheck(False, missing)
    combined, per_file = content_hashes(root)
    if combined == card.get("fingerprint"):
        return FileCheck(True)
    recorded = card.get("file_sha256")
    if isinstance(recorded, dict) and recorded:
        changed = tuple(n for n in DATA_FILES if recorded.get(n) != per_file[n])
        return FileCheck(not changed, changed)
    if isinstance(card.get("build_settings"), dict) and isinstance(card.get("sources"), list):
        try:
            with xr.open_dataset(root / "cube.nc", engine="netcdf4", mask_and_scale=True) as cube:
                again = real_fingerprint(card["build_settings"], card["sources"], cube, root)
        except (OSError, KeyError, ValueError, RuntimeError):
            return FileCheck(False, ("cube.nc",))
        return FileCheck(again == card.get("fingerprint"))
    return FileCheck(False)


def check_files(root: str | os.PathLike[str], card: dict[str, Any]) -> FileCheck:
    """Whether the data files in ``root`` are those ``card`` (its parsed ``dataset.json``) describes.

    Cheap when nothing changed since the last check (see the module docstring); otherwise reads the
    files once.
    """
    root = Path(root)
    key = _cache_key(root, card)
    if key is not None:
        hit = _cached(root, key)
        if hit is not None:
            return hit
    result = _compute(root, card)
    if key is not None and key == _cache_key(root, card):  # the files did not change while being read
        _store(root, key, result)
    return result
