"""The results store: one JSON line per finished (or failed) experiment run, per dataset.

Where: ``<results root>/<dataset name>/results.jsonl``, the results root being
``$GEOAPP_EXPERIMENTS_DIR`` or ``<repo>/experiments`` (:data:`geoapp.paths.EXPERIMENTS_DIR`, tracked in
git so that the docs and the Experiments page read it on a fresh clone). Run folders (checkpoints) go
elsewhere, under the data folder (:func:`runs_root`).

A line (:func:`make_record`) holds the run's ``key`` (:meth:`RunSpec.identity`) and ``name``, its
``status`` (``ok`` or ``failed`` with ``error``), the full training ``config``, the ``dataset``
(name, fingerprint, simulated), the ``metrics`` (rmse in bu/acre, r2, n counties, test year), the
training ``seconds``, the ``checkpoint`` folder, the geoapp ``version``, the ``plan`` that asked for it
and the ``time`` (UTC, ISO 8601).

Safety: a line is appended whole with one write, then flushed and fsynced, so a crash loses at most
the line being written; a half-written or damaged line is skipped on read with a warning naming the
line (and an append after it starts on a new line, so nothing following is lost). A store whose lines
name another fingerprint than the dataset's holds results of other data: it is refused with an error
saying so, never mixed.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from geoapp.data.args import as_path, given
from geoapp.errors import DataFileError, InputError
from geoapp.experiments.plan import IDENTITY_FIELDS, RunSpec

__all__ = [
    "STORE_FILE",
    "OK",
    "FAILED",
    "results_root",
    "store_path",
    "runs_root",
    "ResultStore",
    "make_record",
    "latest_results",
    "record_key",
    "StoreWarning",
]

STORE_FILE = "results.jsonl"
OK, FAILED = "ok", "failed"
_RECORD_KEYS = {"key", "name", "status", "dataset"}


class StoreWarning(UserWarning):
    """A line of the results store was skipped (half-written or damaged)."""


def results_root() -> Path:
    """Folder of the results stores: ``$GEOAPP_EXPERIMENTS_DIR`` or ``<repo>/experiments``."""
    from geoapp.paths import EXPERIMENTS_DIR

    value = os.environ.get("GEOAPP_EXPERIMENTS_DIR", "").strip()
    return (Path(value).expanduser() if value else EXPERIMENTS_DIR).absolute()


def store_path(dataset_name: str) -> Path:
    """The results store of a dataset: ``<results root>/<dataset name>/results.jsonl``."""
    return results_root() / dataset_name / STORE_FILE


def runs_root(dataset_name: str) -> Path:
    """Folder of a dataset's experiment run folders: ``<data dir>/experiments/<dataset name>/runs``."""
    from geoapp.paths import data_dir

    return data_dir() / "experiments" / dataset_name / "runs"


def make_record(
    run: RunSpec,
    *,
    dataset: Mapping[str, Any],
    status: str,
    plan: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    seconds: float | None = None,
    checkpoint: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One store line for ``run``.

    Args:
        run: the run.
        dataset: ``{"name", "fingerprint", "simulated"}`` of the data the run used.
        status: :data:`OK` (then ``metrics`` holds finite ``rmse`` and ``r2``) or :data:`FAILED` (with ``error``).
        metrics: ``rmse`` (bu/acre), ``r2``, ``n`` (counties scored) and ``year``.
        seconds: wall-clock seconds of training and scoring.
        checkpoint: the run's ``best/`` folder.
        config: the full training configuration (default: the run's own fields).
        error: what went wrong (failed runs).
        plan: the plan that asked for the run.

    Raises:
        InputError: an unknown status, or an ``ok`` record without finite metrics.
    """
    from geoapp import __version__

    if status not in (OK, FAILED):
        raise InputError(f"status must be {OK!r} or {FAILED!r}, got {status!r}")
    metrics = dict(metrics or {})
    if status == OK:
        for name in ("rmse", "r2"):
            value = metrics.get(name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"an ok result needs a finite {name}, got {given(value)} for run {run.name}")
    return {
        "key": run.identity(),
        "name": run.name,
        "status": status,
        "plan": plan,
        "config": dict(config) if config is not None else run.train_config(),
        "dataset": {k: dataset.get(k) for k in ("name", "fingerprint", "simulated")},
        "metrics": {k: (float(v) if isinstance(v, float) else v) for k, v in metrics.items()},
        "seconds": None if seconds is None else round(float(seconds), 2),
        "checkpoint": None if checkpoint is None else _shown_path(Path(checkpoint)),
        "error": error,
        "version": __version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (the store is shared through git), else absolute."""
    from geoapp.paths import REPO_ROOT

    try:
        return str(path.absolute().relative_to(REPO_ROOT))
    except ValueError:
        return str(path.absolute())


def _check_line(record: Any) -> str | None:
    """Why a parsed line is not a usable record, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = sorted(_RECORD_KEYS - set(record))
    if missing:
        return f"lacks {missing}"
    key = record["key"]
    if not isinstance(key, dict) or set(key) != {*IDENTITY_FIELDS, "overrides"}:
        return "its key does not name the run's fields"
    if record["status"] not in (OK, FAILED):
        return f"unknown status {record['status']!r}"
    if not isinstance(record["dataset"], dict) or not isinstance(record["dataset"].get("fingerprint"), str):
        return "its dataset has no fingerprint"
    if record["status"] == OK:
        metrics = record.get("metrics")
        if not isinstance(metrics, dict) or not all(
            isinstance(metrics.get(k), (int, float)) and math.isfinite(metrics[k]) for k in ("rmse", "r2")
        ):
            return "an ok result without finite rmse and r2"
    return None


class ResultStore:
    """The results store of one dataset (a JSON-lines file).

    Args:
        path: the store's file (:func:`store_path`).
        dataset: ``{"name", "fingerprint", "simulated"}`` of the dataset whose results it holds.
    """

    def __init__(self, path: str | Path, dataset: Mapping[str, Any]) -> None:
        self.path = as_path(path, "results store")
        if not isinstance(dataset, Mapping) or not isinstance(dataset.get("fingerprint"), str):
            raise InputError(f"dataset must be a mapping with name and fingerprint, got {given(dataset)}")
        self.dataset = {k: dataset.get(k) for k in ("name", "fingerprint", "simulated")}

    @classmethod
    def for_dataset(cls, ds: Any, path: str | Path | None = None) -> ResultStore:
        """The store of a loaded dataset (``ds.name``, ``ds.fingerprint``, ``ds.simulated``), default place unless ``path``."""
        info = {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": ds.simulated}
        return cls(path if path is not None else store_path(ds.name), info)

    def read(self) -> list[dict[str, Any]]:
        """Every usable record, in file order; a damaged line is skipped with a :class:`StoreWarning` naming it.

        Raises:
            DataFileError: the file cannot be read, or it holds results of another dataset fingerprint.
        """
        if not self.path.exists():
            return []
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DataFileError(f"cannot read the results store {str(self.path)!r}: {exc.strerror or exc}") from exc
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                problem = _check_line(record)
            except (ValueError, RecursionError) as exc:
                problem = f"not valid JSON ({exc})"
            if problem is not None:
                warnings.warn(
                    f"{self.path}: line {number} skipped ({problem}); a run interrupted while writing leaves such a "
                    "line: that run counts as missing and runs again",
                    StoreWarning,
                    stacklevel=2,
                )
                continue
            self._check_fingerprint(record, number)
            records.append(record)
        return records

    def _check_fingerprint(self, record: dict[str, Any], number: int) -> None:
        theirs = record["dataset"]
        if theirs.get("fingerprint") != self.dataset["fingerprint"]:
            raise DataFileError(
                f"the results store {str(self.path)!r} holds results of another dataset (line {number}: "
                f"{theirs.get('name')!r}, fingerprint {theirs.get('fingerprint')!r}), not of {self.dataset['name']!r} "
                f"(fingerprint {self.dataset['fingerprint']!r}): the dataset was rebuilt or changed since those runs. "
                "Move that file aside to start a new store, or use the dataset the results were made with"
            )

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record as a line, flushed and fsynced (after checking the store is this dataset's).

        Raises:
            InputError: ``record`` is not a valid record or names another dataset.
            DataFileError: the store holds another dataset's results, or cannot be written.
        """
        problem = _check_line(dict(record)) if isinstance(record, Mapping) else "not a mapping"
        if problem is not None:
            raise InputError(f"not a results-store record ({problem}): {given(record)}")
        if record["dataset"].get("fingerprint") != self.dataset["fingerprint"]:
            raise InputError(
                f"record of run {record.get('name')!r} names dataset fingerprint {record['dataset'].get('fingerprint')!r}, "
                f"but this store holds {self.dataset['name']!r} ({self.dataset['fingerprint']!r})"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StoreWarning)  # damaged lines were reported when the store was read
            self.read()  # refuses a store of another dataset before anything is written
        line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":  # a line cut short by a crash: the new one starts on its own line
                        line = "\n" + line
                f.write(line.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise DataFileError(f"cannot append to the results store {str(self.path)!r}: {exc.strerror or exc}") from exc

    def done_keys(self) -> set[str]:
        """Keys (:meth:`RunSpec.key`) of the runs with an ``ok`` result."""
        return {record_key(r) for r in self.read() if r["status"] == OK}


def record_key(record: Mapping[str, Any]) -> str:
    """The record's run key as :meth:`RunSpec.key` writes it (canonical JSON)."""
    return json.dumps(record["key"], sort_keys=True, separators=(",", ":"))


def latest_results(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per run key, the record that counts: the latest ``ok`` one, else the latest failure."""
    out: dict[str, dict[str, Any]] = {}
    for record in records:
        key = record_key(record)
        held = out.get(key)
        if held is None or record["status"] == OK or held["status"] == FAILED:
            out[key] = dict(record)
    return out
