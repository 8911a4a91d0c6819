"""The workspace lock: one training job at a time in a jobs folder.

``<jobs dir>/lock.json`` holds ``{"job_id", "pid", "since"}``: the job holding the lock, its worker's
pid (None while a start or resume is under way, before the worker runs) and when it was taken (Unix
seconds). It is created atomically (a hard link of a complete file, which fails if a lock exists), so
a reader never sees half a lock and two starts cannot both take it.

A lock is stale when its job is no longer active (killed, crashed, machine restarted); a start then
takes it over. A lock without a pid is a start in progress for :data:`STARTING_TIMEOUT_S` seconds. A
garbled lock (a crash while the disk was writing it) counts as a start in progress while it is young
and as stale afterwards.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geoapp.errors import GeoappError
from geoapp.fileio import atomic_write_text
from geoapp.jobs.status import STARTING_TIMEOUT_S, read_status

__all__ = ["LOCK_FILE", "JobBusyError", "WorkspaceLock", "release_lock"]

LOCK_FILE = "lock.json"


class JobBusyError(GeoappError):
    """A job is already running in this workspace (one at a time)."""


def release_lock(root: str | Path, job_id: str) -> None:
    """Remove the workspace lock if ``job_id`` holds it (called by the worker as it ends)."""
    path = Path(root) / LOCK_FILE
    try:
        if json.loads(path.read_text()).get("job_id") == job_id:
            path.unlink()
    except (OSError, json.JSONDecodeError):
        pass


class WorkspaceLock:
    """The lock of the jobs folder ``root``.

    Args:
        root: the jobs folder (holds ``lock.json`` and the job folders).
        job_active: whether a job id names a job that is still active (starting, running, cancelling);
            asked about the holder to tell a live lock from a stale one.
    """

    def __init__(self, root: Path, job_active: Callable[[str], bool]) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self._job_active = job_active

    def holder(self) -> dict[str, Any] | None:
        """The lock's content if a live job holds it; a stale lock is removed and None returned."""
        try:
            lock = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            lock = {"since": self.path.stat().st_mtime if self.path.exists() else 0}
        job_id = lock.get("job_id")
        starting = lock.get("pid") is None and time.time() - float(lock.get("since") or 0) < STARTING_TIMEOUT_S
        if starting:
            return lock  # a start or resume in progress: its folder and status are being written, no worker yet
        if job_id and self._job_active(str(job_id)):
            return lock
        try:  # remove the stale lock only if it is still the one judged stale (or still unreadable)
            current = json.loads(self.path.read_text()).get("job_id")
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            current = None  # garbled (a crash while the disk was writing it) and older than a start
        if current == job_id:
            self.path.unlink(missing_ok=True)
        return None

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
                        status = read_status(self.root / holder["job_id"]) if holder.get("job_id") else {}
                        raise JobBusyError(
                            f"job {holder.get('job_id', '?')!r} ({status.get('name', '?')}) is "
                            f"{status.get('state', 'starting')}; one training job runs at a time: wait for it, or cancel it first"
                        ) from None
            raise JobBusyError("could not take the job lock (another start raced this one); try again")
        finally:
            tmp.unlink(missing_ok=True)

    def record_worker(self, job_id: str, pid: int) -> None:
        """Name the started worker in the lock, unless another start has taken the lock meanwhile."""
        try:
            still_ours = json.loads(self.path.read_text()).get("job_id") == job_id
        except (OSError, json.JSONDecodeError):
            still_ours = False
        if still_ours:  # never overwrite a lock another start has taken meanwhile
            atomic_write_text(self.path, json.dumps({"job_id": job_id, "pid": pid, "since": round(time.time(), 3)}))

    def release(self, job_id: str) -> None:
        """Remove the lock if ``job_id`` holds it."""
        release_lock(self.root, job_id)
