"""Compute ahead what the pages would otherwise compute on a visit, so they answer at once.

:func:`warm_tasks` lists the work for a dataset (default: the embedded one) and the checkpoints
trained on it, and for the location pages:

- ``predictions`` of every crop-yield checkpoint on every labelled year (Yield map, model comparison);
- ``attention`` (deep models) and ``ablation`` of every checkpoint on the checkpoints' test years
  (every labelled year with ``all_years``): the Attention and Feature ablation pages;
- ``gallery`` embeddings of every encoder the Location similarity page offers (the shipped one and
  GeoCLIP's) over both 100K galleries.

Results go to the on-disk caches the pages read (:mod:`geoapp.analysis.result_cache`,
:mod:`geoapp.data.galleries`); a task whose result is fresh is skipped after a check that reads no
result (file headers and key files only). :func:`warm` runs the tasks and reports each one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geoapp.data.args import as_bool, as_optional_path
from geoapp.errors import GeoappError, MissingDataError
from geoapp.fileio import atomic_write_text

__all__ = ["WarmTask", "WarmReport", "warm_tasks", "warm", "inputs_stamp", "all_fresh", "STAMP"]

STAMP = "warm-stamp.json"
"""In the results cache folder: the inputs of the last warm-up that left every result fresh."""


@dataclass
class WarmTask:
    """One result to have on disk.

    Attributes:
        kind: ``predictions``, ``attention``, ``ablation`` or ``gallery``.
        label: what it is, for people (run and year, or encoder and gallery).
        is_fresh: True when the result is already on disk for the current inputs.
        run: computes and keeps it.
    """

    kind: str
    label: str
    is_fresh: Callable[[], bool]
    run: Callable[[], object]


@dataclass
class WarmReport:
    """What :func:`warm` did: per task ``(kind, label, status, seconds)``; status ``computed``, ``fresh`` or ``failed: ...``."""

    rows: list[tuple[str, str, str, float]]
    seconds: float

    @property
    def computed(self) -> int:
        """Number of tasks computed."""
        return sum(1 for r in self.rows if r[2] == "computed")

    @property
    def failed(self) -> int:
        """Number of tasks that failed (each names why)."""
        return sum(1 for r in self.rows if r[2].startswith("failed"))


def _dataset_root(dataset: object) -> Path | None:
    """``dataset`` as a folder path, None for the embedded one; an empty path ("") is refused, never the default.

    Raises:
        InputError: ``dataset`` is not a path or None, or is empty.
    """
    return as_optional_path(dataset, "dataset")


def _options(all_years: object, galleries: object) -> tuple[bool, bool]:
    return as_bool(all_years, "all_years"), as_bool(galleries, "galleries")


def _run_name(folder: Path) -> str:
    return folder.parent.name if folder.name in ("best", "last") else folder.name


def _yield_tasks(dataset: str | Path | None, all_years: bool) -> list[WarmTask]:
    from geoapp.analysis.ablation import ABLATION_VERSION, what_if_ablation
    from geoapp.analysis.attention import ATTENTION_VERSION, attention_for_year
    from geoapp.analysis.result_cache import result_cache, result_key
    from geoapp.analysis.yield_predictions import PREDICTIONS_VERSION, predictions_for_year, yield_checkpoints
    from geoapp.data.dataset import default_dataset_path, is_dataset_folder, load_dataset

    path = _dataset_root(dataset) or default_dataset_path("demo")
    if not is_dataset_folder(path):
        raise MissingDataError(f"no dataset at {str(path)!r}: build it first (python -m geoapp data build)")
    ds = load_dataset(path)
    labelled = sorted({int(y) for y in ds.labelled()["year"]}, reverse=True)
    found = yield_checkpoints(ds)
    test_years = sorted({int(card["years"]["test"]) for _, card in found} & set(labelled), reverse=True)
    cache = result_cache()

    def task(kind: str, version: str, fn: Callable, folder: Path, year: int) -> WarmTask:
        def fresh() -> bool:
            key = result_key(kind, folder, ds, year, version)
            return key is not None and cache.fresh(key)

        return WarmTask(kind, f"{_run_name(folder)} on {year}", fresh, lambda: fn(folder, ds, year))

    tasks: list[WarmTask] = []
    first = test_years + [y for y in labelled if y not in test_years]  # the years a page opens on come first
    for year in first:
        tasks += [task("predictions", PREDICTIONS_VERSION, predictions_for_year, folder, year) for folder, _ in found]
    for year in first if all_years else test_years:
        for folder, card in found:
            if card.get("kind") == "crop-yield":
                tasks.append(task("attention", ATTENTION_VERSION, attention_for_year, folder, year))
            tasks.append(task("ablation", ABLATION_VERSION, what_if_ablation, folder, year))
    return tasks


def _gallery_tasks() -> list[WarmTask]:
    from geoapp.analysis.location import DEFAULT_LOCATION_CHECKPOINT, gallery_embeddings, load_location_model
    from geoapp.data.galleries import GALLERY_NAMES, GalleryEmbeddingCache, load_gallery
    from geoapp.paths import checkpoint_dir

    encoders: list[tuple[str, Callable]] = []
    if (checkpoint_dir() / DEFAULT_LOCATION_CHECKPOINT).is_dir():
        encoders.append(("ours", load_location_model))
    try:
        from geoapp.models.location.geoclip import geoclip_weights_path, load_geoclip_encoder

        geoclip_weights_path()
        load_gallery("geoclip")
        encoders.append(("geoclip", load_geoclip_encoder))
    except (GeoappError, OSError, ImportError):
        pass  # GeoCLIP is not installed: its page choice says so itself

    tasks = []
    for enc_name, loader in encoders:
        for gallery_name in sorted(GALLERY_NAMES, key=lambda g: g != "land"):

            def fresh(loader=loader, gallery_name=gallery_name) -> bool:
                return GalleryEmbeddingCache().fresh(load_gallery(gallery_name), loader().fingerprint)

            def run(loader=loader, gallery_name=gallery_name) -> object:
                return gallery_embeddings(loader(), load_gallery(gallery_name), progress=False)

            tasks.append(WarmTask("gallery", f"{enc_name} encoder over the {gallery_name} gallery", fresh, run))
    return tasks


def warm_tasks(dataset: str | Path | None = None, all_years: bool = False, galleries: bool = True) -> list[WarmTask]:
    """Every task for ``dataset`` (default: the embedded one) and, with ``galleries``, the location encoders.

    Raises:
        MissingDataError: there is no dataset at ``dataset`` (build it first).
        InputError: ``dataset`` is not a path or None (an empty path included), or an option is not a bool.
    """
    all_years, galleries = _options(all_years, galleries)
    tasks = _yield_tasks(dataset, all_years)
    return tasks + (_gallery_tasks() if galleries else [])


def _files(folder: Path) -> list[list]:
    """(relative path, size, mtime ns) of every file under ``folder`` (dot files left out), sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith((".json", ".safetensors", ".nc", ".csv")):
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                continue
            out.append([str(path.relative_to(folder)), st.st_size, st.st_mtime_ns])
    return out


def inputs_stamp(dataset: str | Path | None, all_years: bool, galleries: bool) -> dict:
    """What the warm-up's results depend on, from file sizes and times only (no import of torch, no data read).

    The dataset folder's files, every checkpoint's card and weights, GeoCLIP's package files, the
    code version, the options, and the number of entries in the results cache.

    Raises:
        InputError: ``dataset`` is not a path or None (an empty path included), or an option is not a bool.
    """
    import importlib.util

    from geoapp import __version__
    from geoapp.paths import checkpoint_dir, data_dir

    given = _dataset_root(dataset)
    all_years, galleries = _options(all_years, galleries)
    root = given.absolute() if given is not None else data_dir() / "corn_belt_sim_demo"
    spec = importlib.util.find_spec("geoclip") if galleries else None
    geoclip = [_files(Path(p) / "model") for p in (spec.submodule_search_locations or [])] if spec else []
    results = _results_root()
    return {
        "code": __version__,
        "options": {"dataset": str(root), "all_years": all_years, "galleries": galleries},
        "dataset": _files(root),
        "checkpoints": _files(checkpoint_dir()),
        "geoclip": geoclip,
        "entries": len(list(results.glob("*/*/entry.json"))),
    }


def _results_root() -> Path:
    """The results cache folder, without importing the cache (and torch) when nothing has yet."""
    module = sys.modules.get("geoapp.analysis.result_cache")
    if module is not None:
        return module.result_cache().root
    from geoapp.paths import data_dir

    return data_dir() / "cache" / "results"


def _stamp_path() -> Path:
    return _results_root() / STAMP


def all_fresh(dataset: str | Path | None = None, all_years: bool = False, galleries: bool = True) -> bool:
    """Whether nothing changed since a warm-up left every result fresh (a check of file times, well under a second).

    Raises:
        InputError: ``dataset`` is not a path or None (an empty path included), or an option is not a bool.
    """
    _dataset_root(dataset)
    _options(all_years, galleries)
    try:
        stamp = json.loads(_stamp_path().read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return stamp == inputs_stamp(dataset, all_years, galleries)


def warm(
    dataset: str | Path | None = None,
    all_years: bool = False,
    galleries: bool = True,
    progress: bool = True,
) -> WarmReport:
    """Compute every task of :func:`warm_tasks` that is not fresh, with a progress bar.

    A task that fails (a broken checkpoint) is reported with its reason and the others go on.
    Entries of deleted checkpoints and datasets are removed from the results cache.

    Raises:
        MissingDataError: there is no dataset at ``dataset``.
        InputError: ``dataset`` is not a path or None (an empty path included), or an option is not a bool.
    """
    progress = as_bool(progress, "progress")
    from tqdm.auto import tqdm

    from geoapp.analysis.result_cache import result_cache

    start = time.perf_counter()
    tasks = warm_tasks(dataset, all_years=all_years, galleries=galleries)
    result_cache().prune()
    rows = []
    with tqdm(total=len(tasks), desc="warm", unit="task", disable=not progress) as bar:
        for task in tasks:
            bar.set_postfix_str(f"{task.kind}: {task.label}", refresh=False)
            t0 = time.perf_counter()
            try:
                if task.is_fresh():
                    status = "fresh"
                else:
                    task.run()
                    status = "computed"
            except (GeoappError, OSError, ValueError) as exc:
                status = f"failed: {exc}"
            rows.append((task.kind, task.label, status, time.perf_counter() - t0))
            bar.update(1)
    report = WarmReport(rows, time.perf_counter() - start)
    if report.failed == 0:
        with contextlib.suppress(OSError, GeoappError):
            atomic_write_text(_stamp_path(), json.dumps(inputs_stamp(dataset, all_years, galleries)))
    return report
