"""A run claimed by one runner at a time, so several runners can share one plan safely.

Two ``experiments run`` processes on the same plan (one per core, say) would otherwise both train the
run neither has a result for yet, into the same run folder. Before a run trains, its runner takes an
exclusive, non-blocking ``flock`` on ``<runs dir>/.<run name>.lock``; a runner that finds the lock held
skips the run and goes on with the next. The kernel drops the lock when its process ends, killed or
not, so a crashed runner never leaves a stale claim behind. The file itself stays (it is empty of
meaning once unlocked) and records who holds it, for the message the other runner prints.
:func:`training_now` tells whether a run is being trained (and by whom), :func:`epochs_done` how far
it has come, for ``experiments status`` and the Experiments page.

POSIX only (``fcntl``); on a system without it (Windows) every claim succeeds, and runners sharing a
plan there may train a run twice. Runners share claims only through the same runs folder (the default
``data/experiments/<dataset name>/runs``): give them the same ``--runs-dir``.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Claim", "claim_run", "lock_path", "training_now", "training_seconds", "epochs_done"]


@dataclass(frozen=True)
class Claim:
    """The outcome of :func:`claim_run`: ``held`` by this process, or by ``holder`` (its pid, host and start)."""

    held: bool
    lock: Path
    holder: str = ""


def lock_path(runs_dir: str | Path, run_name: str) -> Path:
    """``<runs dir>/.<run name>.lock``: beside the run folder, not in it (a restarted run replaces its folder)."""
    return Path(runs_dir) / f".{run_name}.lock"


_CLAIM_TRIES = 5
"""Attempts at the exclusive lock before a run counts as held: a :func:`training_now` probe holds a shared
lock for microseconds, and must not make a runner skip a run nobody trains."""

_CLAIM_WAIT_S = 0.02
"""Seconds between two attempts."""

_SINCE_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How a claim records when it began (local time of the runner's machine)."""


def _holder_info(lock: Path) -> dict | None:
    """What ``lock``'s holder wrote (pid, host, since); None when it names no holder or cannot be read."""
    try:
        info = json.loads(lock.read_text(encoding="utf-8") or "null")
        out = {"pid": int(info["pid"]), "host": str(info["host"]), "since": str(info["since"])}
        started = info.get("started")  # seconds since the epoch (claims made before it was written lack it)
        if isinstance(started, (int, float)) and not isinstance(started, bool) and math.isfinite(started):
            out["started"] = float(started)
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _holder(lock: Path) -> str:
    """Who holds ``lock``, as written by its holder: ``pid 123 on host, since 2026-11-30 12:00:00``."""
    info = _holder_info(lock)
    return f"pid {info['pid']} on {info['host']}, since {info['since']}" if info is not None else "another runner"


def training_now(runs_dir: str | Path, run_name: str) -> str | None:
    """Who is training run ``run_name`` now (``pid 123 on host, since ...``), or None.

    Asks the lock itself (a shared, non-blocking ``flock`` probe, released at once), so what a killed
    runner left in the file never counts; the file's text only names the holder.
    """
    lock = lock_path(runs_dir, run_name)
    return _holder(lock) if _held(lock) else None


def training_seconds(runs_dir: str | Path, run_name: str) -> float | None:
    """Seconds since the runner training ``run_name`` now claimed it; None when no runner holds it (or it is unnamed)."""
    lock = lock_path(runs_dir, run_name)
    if not _held(lock):
        return None
    info = _holder_info(lock)
    if info is None:
        return None
    since = info.get("started")  # the epoch time; the readable local time only for an older claim
    if since is None:
        try:
            since = time.mktime(time.strptime(info["since"], _SINCE_FORMAT))
        except (ValueError, OverflowError):
            return None
    return max(time.time() - since, 0.0)


def _held(lock: Path) -> bool:
    """Whether a live process holds ``lock`` (a shared, non-blocking probe, released at once)."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False  # no lock file: no runner ever claimed the run
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _open_lock(lock: Path) -> tuple[int, bool]:
    """An fd on ``lock`` (created if missing) and whether it can be written (a file of another user: read only)."""
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT, 0o644), True
    except PermissionError:
        return os.open(lock, os.O_RDONLY), False  # flock works on a read-only fd; the holder goes unnamed


def epochs_done(run_folder: str | Path, max_epochs: int) -> str | None:
    """How far a run in training has come, from its ``metrics.jsonl``: ``epoch 9 of up to 30, best validation RMSE 5.388``.

    None before its first epoch is logged. RMSE in the target's unit (bu/acre for yields).
    """
    from geoapp.training.metrics_log import read_metrics

    records = [r for r in read_metrics(Path(run_folder) / "metrics.jsonl") if isinstance(r.get("epoch"), int)]
    if not records:
        return None
    text = f"epoch {records[-1]['epoch']} of up to {max_epochs}"
    scores = [float(r["val_rmse"]) for r in records if isinstance(r.get("val_rmse"), (int, float))]
    return text + (f", best validation RMSE {min(scores):.3f}" if scores else "")


@contextmanager
def claim_run(runs_dir: str | Path, run_name: str) -> Iterator[Claim]:
    """Claim run ``run_name`` for this process for the ``with`` block; waits at most about 0.1 s.

    Yields:
        :class:`Claim`: ``held`` True when this process holds the run (train it), False when another
        live process does (skip it; ``holder`` says who).

    Raises:
        OSError: the lock file can be neither created nor opened (the runs folder is not writable).
    """
    lock = lock_path(runs_dir, run_name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows: no claims, runners sharing a plan may train a run twice
        yield Claim(True, lock)
        return
    fd, writable = _open_lock(lock)
    try:
        for attempt in range(_CLAIM_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == _CLAIM_TRIES - 1:
                    yield Claim(False, lock, _holder(lock))
                    return
                time.sleep(_CLAIM_WAIT_S)
        if writable:
            now = time.time()
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime(_SINCE_FORMAT), "started": now}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        try:
            yield Claim(True, lock)
        finally:
            if writable:
                os.ftruncate(fd, 0)  # before unlocking: the file no longer names a holder
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
