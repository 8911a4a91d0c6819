"""A background process that moves a dataset's experiment queue on until it is empty.

Queued runs (:mod:`geoapp.experiments.queue`) train as training jobs one after another, and the queue
moves on only when something calls :func:`~geoapp.experiments.queue.advance`. The keeper is that
something when nobody watches: ``python -m geoapp experiments collect --follow --dataset <folder>``
started in a session of its own (it outlives the app's script runs and the app itself), which scores
each finished job into the results store, starts the next run, and exits once the queue is empty.

One keeper per dataset: its process id and start time are kept in
``<data dir>/experiments/<dataset name>/keeper.json`` (written to a temporary name and renamed), and
:func:`ensure_keeper` starts a new one only when that process is no longer running, deciding under a
file lock so that two app sessions cannot both start one. Its output goes
to ``keeper.log`` beside it.
"""

from __future__ import annotations

import fcntl
import json
import sys
from pathlib import Path
from typing import Any

from geoapp.fileio import atomic_write_text
from geoapp.jobs.processes import child_environment, process_alive, spawn_session, start_ticks
from geoapp.paths import REPO_ROOT

__all__ = ["keeper_file", "keeper_pid", "ensure_keeper", "POLL_S"]

POLL_S = 10.0
"""Seconds between two looks at the queue (a training job takes minutes; a look costs milliseconds)."""


def keeper_file(dataset_name: str) -> Path:
    """``<data dir>/experiments/<dataset name>/keeper.json``."""
    from geoapp.experiments.queue import queue_path

    return queue_path(dataset_name).with_name("keeper.json")


def keeper_pid(dataset_name: str) -> int | None:
    """The process id of the dataset's keeper while it runs, else None (a damaged file counts as none)."""
    path = keeper_file(dataset_name)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        pid, ticks = int(entry["pid"]), entry.get("start_ticks")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if process_alive(pid, ticks) else None


def ensure_keeper(ds: Any, poll_s: float = POLL_S) -> int:
    """The running keeper of ``ds``'s queue, started now if none runs; returns its process id.

    Args:
        ds: the dataset whose queue to keep (its folder is passed to the keeper).
        poll_s: seconds between two looks at the queue.
    """
    path = keeper_file(ds.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two sessions queueing at the same moment must not start two keepers: the check and the start
    # happen under an exclusive lock on keeper.lock (released when the file closes).
    with open(path.with_name("keeper.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = keeper_pid(ds.name)
        return running if running is not None else _start(ds, path, poll_s)


def _start(ds: Any, path: Path, poll_s: float) -> int:
    """Start the keeper of ``ds`` and record it in ``path``; returns its process id."""
    command = [
        sys.executable,
        "-m",
        "geoapp",
        "experiments",
        "collect",
        "--follow",
        "--poll-s",
        str(float(poll_s)),
        "--dataset",
        str(Path(ds.root).resolve()),
    ]
    with open(path.with_name("keeper.log"), "a", encoding="utf-8") as log:
        proc = spawn_session(command, cwd=REPO_ROOT, env=child_environment(), log=log)  # folders as the app sees them
    atomic_write_text(path, json.dumps({"pid": proc.pid, "start_ticks": start_ticks(proc.pid), "command": command}))
    return proc.pid
