"""Results computed once per (checkpoint, dataset, year) and kept on disk.

Predictions, attention summaries and what-if ablations of a crop-yield checkpoint take seconds each;
the pages ask for them on every checkpoint or year switch. :func:`cached` computes a result once and
keeps it under ``<data dir>/cache/results/<kind>/<run>-<year>-<slot>/``, so later calls (and other
processes: the app, ``python -m geoapp warm``) read it in milliseconds.

An entry is a folder written atomically (:func:`geoapp.fileio.atomic_folder`):

- ``entry.json``: the key (below), the names of the parts, and the parts that are plain JSON;
- ``<name>.parquet``: one per table (pandas DataFrame, column types kept);
- ``arrays.safetensors``: the numpy arrays.

Never pickle. The key records everything the result depends on: the checkpoint's ``card.json``
content hash and its weights file's size and modification time (an ensemble's: each member's), the dataset's card fingerprint, its
data files' sizes and modification times, a hash of the year's labelled counties (so a dataset
edited in memory is not served another's results), the year, and the code's version. A folder per
slot ((kind, checkpoint folder, dataset folder, year)) holds the latest entry; an entry whose key
differs is stale and is recomputed and replaced, and one that cannot be read (damaged, half
removed) is ignored and recomputed. A cache that cannot be written is skipped: the result is still
returned.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoapp import __version__
from geoapp.data.args import as_int, as_path, as_text, given
from geoapp.data.fingerprint import DATA_FILES
from geoapp.errors import GeoappError, InputError
from geoapp.fileio import atomic_folder, sha256_file
from geoapp.paths import data_dir
from geoapp.training.checkpoint import CARD, MEMBERS_DIR, WEIGHTS
from geoapp.training.yield_trainer import check_dataset_arg

__all__ = [
    "RESULTS_FORMAT",
    "Parts",
    "ResultKey",
    "ResultCache",
    "result_key",
    "result_cache",
    "cached",
    "cache_root",
    "no_cache",
]

RESULTS_FORMAT = "1"
"""Layout of an entry; a change makes every entry stale."""

ENTRY = "entry.json"
ARRAYS = "arrays.safetensors"

Parts = dict[str, Any]
"""A result as named parts: pandas DataFrames, numpy arrays, and JSON values (dicts, lists, numbers, None)."""

_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("geoapp_result_cache_root", default=None)
_OFF: contextvars.ContextVar[bool] = contextvars.ContextVar("geoapp_result_cache_off", default=False)


@contextlib.contextmanager
def cache_root(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Within the block, keep results under ``path`` instead of ``<data dir>/cache/results`` (benchmarks, tests)."""
    root = as_path(path, "path")
    token = _ROOT.set(root)
    try:
        yield root
    finally:
        _ROOT.reset(token)


@contextlib.contextmanager
def no_cache() -> Iterator[None]:
    """Within the block, compute every result afresh and neither read nor write the cache."""
    token = _OFF.set(True)
    try:
        yield
    finally:
        _OFF.reset(token)


@dataclass(frozen=True)
class ResultKey:
    """Where a result lives and what it depends on.

    Attributes:
        kind: the result's kind (``predictions``, ``attention``, ``ablation``), a folder name.
        slot: the entry's folder name: run name, year and a hash of (kind, checkpoint, dataset, year).
        inputs: everything the result depends on (JSON); an entry with other inputs is stale.
    """

    kind: str
    slot: str
    inputs: dict[str, Any]


def _stat(path: Path) -> list[int]:
    s = path.stat()
    return [s.st_size, s.st_mtime_ns]


def _weights_stamp(folder: Path) -> list:
    """Size and modification time of a checkpoint's weights; for an ensemble, of each member's (by path).

    Raises:
        OSError: no weights (the result is then computed without the cache, which names the problem).
    """
    weights = folder / WEIGHTS
    if weights.exists():
        return _stat(weights)
    members = sorted((folder / MEMBERS_DIR).glob(f"*/{WEIGHTS}"))
    if not members:
        raise FileNotFoundError(f"no weights in {str(folder)!r}")
    return [[str(p.relative_to(folder)), *_stat(p)] for p in members]


def _labels_digest(ds: Any, year: int) -> str:
    labelled = ds.labelled(year)
    h = hashlib.sha256()
    h.update(labelled["geoid"].astype(str).str.cat(sep=",").encode())
    h.update(np.ascontiguousarray(labelled["yield"].to_numpy(dtype=np.float64)).tobytes())
    return h.hexdigest()[:16]


def _run_name(folder: Path) -> str:
    name = folder.parent.name if folder.name in ("best", "last") else folder.name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:48] or "run"


_KIND = re.compile(r"[a-z0-9][a-z0-9_-]*")
"""What a result kind looks like: a lowercase folder name (``predictions``, ``attention``, ``ablation``)."""


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InputError(f"kind must be a result kind as a lowercase folder name (e.g. 'predictions'), got {given(kind)}")
    return kind


def _key_args(kind: object, checkpoint: object, ds: object, year: object, version: object) -> tuple[str, Path, int, str]:
    """The arguments of :func:`result_key` checked: (kind, absolute checkpoint folder, year, version)."""
    kind = _check_kind(kind)
    folder = as_path(checkpoint, "checkpoint").absolute()
    check_dataset_arg(ds)
    return kind, folder, as_int(year, "year"), as_text(version, "version")


def result_key(kind: str, checkpoint: str | os.PathLike[str], ds: Any, year: int, version: str = "1") -> ResultKey | None:
    """The key of ``kind`` for (checkpoint, dataset, year), or None when the inputs cannot be keyed.

    None (compute without the cache) when the checkpoint's card or weights, or the dataset's folder
    or card fingerprint, cannot be read: the computation then raises what is wrong. ``version`` is
    the kind's own version: bump it when the computation changes.

    Raises:
        InputError: an argument of the wrong type: ``kind`` not a lowercase name, ``checkpoint`` not a
            path, ``ds`` not a loaded dataset, ``year`` not a whole number (``"2015"`` included),
            ``version`` not text.
    """
    kind, folder, year, version = _key_args(kind, checkpoint, ds, year, version)
    root = getattr(ds, "root", None)
    card = getattr(ds, "card", None)
    if root is None or not isinstance(card, dict) or not card.get("fingerprint"):
        return None
    root = Path(root).absolute()
    try:
        inputs = {
            "format": RESULTS_FORMAT,
            "kind": kind,
            "version": version,
            "code": __version__,
            "checkpoint": {
                "path": str(folder),
                "card_sha256": sha256_file(folder / CARD),
                "weights": _weights_stamp(folder),
            },
            "dataset": {
                "path": str(root),
                "fingerprint": str(card["fingerprint"]),
                "files": {name: _stat(root / name) for name in DATA_FILES},
                "labels": _labels_digest(ds, int(year)),
            },
            "year": int(year),
        }
    except (OSError, KeyError, ValueError, TypeError, GeoappError):
        return None
    slot_of = json.dumps([kind, str(folder), str(root), int(year)]).encode()
    slot = f"{_run_name(folder)}-{int(year)}-{hashlib.sha256(slot_of).hexdigest()[:12]}"
    return ResultKey(kind, slot, inputs)


class ResultCache:
    """Results on disk, one folder per slot under ``root`` (default ``<data dir>/cache/results``, read at call time)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self._root = None if root is None else as_path(root, "root")

    @property
    def root(self) -> Path:
        """The folder of every entry."""
        if self._root is not None:
            return self._root
        return _ROOT.get() or data_dir() / "cache" / "results"

    def path(self, key: ResultKey) -> Path:
        """The entry folder of ``key``."""
        _check_key(key)
        return self.root / key.kind / key.slot

    def _entry(self, key: ResultKey) -> dict | None:
        folder = self.path(key)  # refuses a key that is not a ResultKey (an InputError is a ValueError too)
        try:
            entry = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(entry, dict) or entry.get("inputs") != key.inputs:
            return None
        return entry

    def fresh(self, key: ResultKey) -> bool:
        """Whether an entry for exactly these inputs is on disk (its parts are not read).

        Raises:
            InputError: ``key`` is not a :class:`ResultKey` (:func:`result_key` gives one).
        """
        return self._entry(key) is not None

    def load(self, key: ResultKey) -> Parts | None:
        """The stored parts, or None when there is no entry for these inputs or it cannot be read."""
        entry = self._entry(key)
        if entry is None:
            return None
        folder = self.path(key)
        try:
            parts: Parts = dict(entry["json"])
            for name in entry["frames"]:
                parts[name] = pd.read_parquet(folder / f"{name}.parquet")
            if entry["arrays"]:
                from safetensors.numpy import load_file

                arrays = load_file(str(folder / ARRAYS))
                for name in entry["arrays"]:
                    parts[name] = arrays[name]
        except Exception:  # noqa: BLE001 - a damaged entry of any kind is recomputed, never fatal
            return None
        return parts

    def save(self, key: ResultKey, parts: Parts) -> Path | None:
        """Write ``parts`` as the entry of ``key`` (atomically); None when the cache cannot be written.

        Raises:
            InputError: ``key`` is not a :class:`ResultKey`, or ``parts`` not a dict of named parts.
        """
        _check_key(key)
        _check_parts(parts)
        frames = {k: v for k, v in parts.items() if isinstance(v, pd.DataFrame)}
        arrays = {k: np.ascontiguousarray(v) for k, v in parts.items() if isinstance(v, np.ndarray)}
        plain = {k: v for k, v in parts.items() if k not in frames and k not in arrays}
        entry = {"inputs": key.inputs, "frames": sorted(frames), "arrays": sorted(arrays), "json": plain}
        text = json.dumps(entry, indent=1, default=_json_default)
        target = self.path(key)
        try:
            with atomic_folder(target) as tmp:
                for name, frame in frames.items():
                    frame.to_parquet(tmp / f"{name}.parquet", index=False)
                if arrays:
                    from safetensors.numpy import save_file

                    save_file(arrays, str(tmp / ARRAYS))
                (tmp / ENTRY).write_text(text, encoding="utf-8")
        except (OSError, GeoappError, ValueError, ImportError) as exc:
            warnings.warn(f"cannot keep the {key.kind} result in {target}: {exc}", stacklevel=3)
            return None
        return target

    def prune(self) -> list[Path]:
        """Remove the entries whose checkpoint or dataset folder no longer exists; returns them."""
        removed = []
        for entry_file in sorted(self.root.glob(f"*/*/{ENTRY}")):
            try:
                inputs = json.loads(entry_file.read_text(encoding="utf-8"))["inputs"]
                gone = not Path(inputs["checkpoint"]["path"]).is_dir() or not Path(inputs["dataset"]["path"]).is_dir()
            except (OSError, ValueError, KeyError, TypeError, RecursionError):
                gone = True
            if gone:
                shutil.rmtree(entry_file.parent, ignore_errors=True)
                removed.append(entry_file.parent)
        return removed


def _check_key(key: object) -> None:
    if not isinstance(key, ResultKey):
        raise InputError(f"key must be a ResultKey from result_key(), got {given(key)}")


def _check_parts(parts: object) -> None:
    if not isinstance(parts, dict) or not all(isinstance(k, str) for k in parts):
        raise InputError(f"parts must be a dict of named parts (DataFrames, arrays, JSON values), got {given(parts)}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a cached result part of type {type(value).__name__} is not JSON")


def result_cache() -> ResultCache:
    """The cache at the default root (``<data dir>/cache/results``, or the one :func:`cache_root` set)."""
    return ResultCache()


def cached(
    kind: str,
    checkpoint: str | os.PathLike[str],
    ds: Any,
    year: int,
    compute: Callable[[], Parts],
    version: str = "1",
) -> Parts:
    """The parts of ``kind`` for (checkpoint, dataset, year): read from disk when fresh, else ``compute()`` and kept.

    ``compute`` returns the result as parts (DataFrames, numpy arrays, JSON values); its errors pass
    through and nothing is kept. Inside :func:`no_cache`, or when the inputs cannot be keyed, it is
    just ``compute()``.

    Raises:
        InputError: ``compute`` is not callable or returns something other than a dict of parts, or
            another argument is of the wrong type (:func:`result_key`).
    """
    if not callable(compute):
        raise InputError(f"compute must be a function taking no arguments that returns the parts, got {given(compute)}")
    if _OFF.get():
        _key_args(kind, checkpoint, ds, year, version)  # the same arguments are refused with or without the cache
        return compute()
    key = result_key(kind, checkpoint, ds, year, version)
    if key is None:
        return compute()
    cache = result_cache()
    found = cache.load(key)
    if found is not None:
        return found
    parts = compute()
    _check_parts(parts)
    cache.save(key, parts)
    return parts
