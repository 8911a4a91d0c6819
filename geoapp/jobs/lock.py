"""The workspace lock: one training job at a time in a jobs folder.

``<jobs dir>/lock.json`` holds ``{"job_id", "pid", "pid_start", "since"}``: the job holding the lock,
its worker's pid and start time in clock ticks (None while a start or resume is under way, before the
worker runs) and when it was taken (Unix seconds). It is created atomically (a hard link of a complete
file, which fails if a lock exists), so a reader never sees half a lock and two starts cannot both take it.

A lock is stale when its job is no longer active (killed, crashed, machine restarted) *and* its
worker process is gone; a start then takes it over. The worker is checked itself, not only the job's
folder: a job folder deleted while its worker runs does not free the lock. A lock without a pid is
a start in progress for :data:`STARTING_TIMEOUT_S` seconds. A garbled lock (a crash while the disk
was writing it, not JSON, not an object) counts as a start in progress while it is young and as
stale afterwards.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geoapp.data.args import as_path
from geoapp.errors import GeoappError, InputError
from geoapp.fileio import atomic_write_text
from geoapp.jobs.processes import process_alive, start_ticks
from geoapp.jobs.status import STARTING_TIMEOUT_S, read_status

__all__ = ["LOCK_FILE", "JobBusyError", "WorkspaceLock", "release_lock"]

LOCK_FILE = "lock.json"


class JobBusyError(GeoappError):
    """A job is already running in this workspace (one at a time)."""


def release_lock(root: str | Path, job_id: str) -> None:
    """Remove the workspace lock if ``job_id`` holds it (called by the worker as it ends).

    Raises:
        InputError: ``root`` is not a path.
    """
    path = as_path(root, "root") / LOCK_FILE
    try:
        lock = json.loads(path.read_bytes().decode("utf-8"))
        if isinstance(lock, dict) and lock.get("job_id") == job_id:
            path.unlink()
    except (OSError, ValueError, RecursionError):  # no lock, or a garbled one (judged stale by WorkspaceLock.holder)
        pass


class WorkspaceLock:
    """The lock of the jobs folder ``root``.

    Args:
        root: the jobs folder (holds ``lock.json`` and the job folders).
        job_active: whether a job id names a job that is still active (starting, running, cancelling);
            asked about the holder to tell a live lock from a stale one.
    """

    def __init__(self, root: Path, job_active: Callable[[str], bool]) -> None:
        self.root = as_path(root, "root")
        if not callable(job_active):
            raise InputError(f"job_active must be a function of a job id, got {type(job_active).__name__}")
        self.path = self.root / LOCK_FILE
        self._job_active = job_active

    def _read(self) -> dict[str, Any] | None:
        """The lock's content (None when there is none); a garbled lock reads as a pid-less start from its mtime."""
        try:
            lock = json.loads(self.path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            lock = None
        if not isinstance(lock, dict) or not isinstance(lock.get("since", 0), int | float):
            try:
                return {"since": self.path.stat().st_mtime}
            except OSError:
                return {"since": 0}
        return lock

    def holder(self) -> dict[str, Any] | None:
        """The lock's content if a live job holds it; a stale lock is removed and None returned."""
        lock = self._read()
        if lock is None:
            return None
        job_id = lock.get("job_id")
        starting = lock.get("pid") is None and time.time() - float(lock.get("since") or 0) < STARTING_TIMEOUT_S
        if starting:
            return lock  # a start or resume in progress: its folder and status are being written, no worker yet
        if job_id and self._job_active(str(job_id)):
            return lock
        if self._worker_alive(lock):
            return lock  # its job folder may be gone or damaged, but its worker still trains
        current = self._read()  # remove the stale lock only if it is still the one judged stale (or still unreadable)
        if current is None:
            return None
        if current.get("job_id") == job_id:
            self.path.unlink(missing_ok=True)
        return None

    @staticmethod
    def _worker_alive(lock: dict[str, Any]) -> bool:
        """Whether the worker the lock names still runs (the same process: pid and start time)."""
        pid, ticks = lock.get("pid"), lock.get("pid_start")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return False
        return process_alive(pid, ticks if isinstance(ticks, int) and not isinstance(ticks, bool) else None)

    def _busy_message(self, holder: dict[str, Any]) -> str:
        job_id = holder.get("job_id")
        one_at_a_time = "one training job runs at a time"
        if job_id and not (self.root / str(job_id)).is_dir() and holder.get("pid") is not None:
            return (
                f"job {job_id!r} holds the lock: its folder {str(self.root / str(job_id))!r} is gone but its worker "
                f"(pid {holder['pid']}) still runs; {one_at_a_time}: wait for it to end, or stop that process"
            )
        status = read_status(self.root / str(job_id)) if job_id else {}
        return (
            f"job {job_id or '?'!r} ({status.get('name', '?')}) is {status.get('state', 'starting')}; "
            f"{one_at_a_time}: wait for it, or cancel it first"
        )

    def acquire(self, job_id: str) -> None:
        """Take the lock for ``job_id`` (no pid yet), taking over a stale one.

        Raises:
            JobBusyError: a live job holds the lock, or another start took it in between.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".lock-{job_id}-{os.getpid()}"
        tmp.write_text(json.dumps({"job_id": job_id, "pid": None, "since": round(time.time(), 3)}))
        try:
            for _ in range(2):
                try:
                    os.link(tmp, self.path)  # atomic: fails if a lock exists; never a half-written lock
                    return
                except FileExistsError:
                    holder = self.holder()  # removes a stale lock
                    if holder is not None:
                        raise JobBusyError(self._busy_message(holder)) from None
            raise JobBusyError("could not take the job lock (another start raced this one); try again")
        finally:
            tmp.unlink(missing_ok=True)

    def record_worker(self, job_id: str, pid: int) -> None:
        """Name the started worker in the lock, unless another start has taken the lock meanwhile."""
        lock = self._read()
        still_ours = lock is not None and lock.get("job_id") == job_id
        if still_ours:  # never overwrite a lock another start has taken meanwhile
            lock = {"job_id": job_id, "pid": pid, "pid_start": start_ticks(pid), "since": round(time.time(), 3)}
            atomic_write_text(self.path, json.dumps(lock))

    def release(self, job_id: str) -> None:
        """Remove the lock if ``job_id`` holds it."""
        release_lock(self.root, job_id)
