"""The workspace lock: one training job at a time in a jobs folder.

``<jobs dir>/lock.json`` holds ``{"job_id", "pid", "pid_start", "since"}``: the job holding the lock,
its worker's pid and start time in clock ticks (None while a start or resume is under way, before the
worker runs; torchrun's launcher for a job of several ranks) and when it was taken (Unix seconds). It
is created atomically (a hard link of a complete file, which fails if a lock exists), so a reader never
sees half a lock and two starts cannot both take it.

A lock is stale when its job is no longer active (killed, crashed, machine restarted) *and* every
process of the job is gone: its worker, and each torchrun rank that recorded itself in the job folder
(:mod:`geoapp.jobs.ranks`); a start then takes it over. The processes are checked themselves, not
only the job's folder: a job folder deleted while its worker runs does not free the lock, nor does a
final status written by rank 0 while other ranks still tear down. A lock without a pid is a start in
progress for :data:`STARTING_TIMEOUT_S` seconds. A garbled lock (a crash while the disk was writing
it, not JSON, not an object) counts as a start in progress while it is young and as stale afterwards.

Every change of ``lock.json`` (a start's link, naming the worker, a release, removing a stale lock)
happens under an exclusive ``flock`` on ``<jobs dir>/lock.guard`` (:func:`geoapp.jobs.guard.guarded`),
held for that change alone, never while a job trains. Judging a lock (reading job statuses, asking
whether processes live) happens outside it, on a snapshot of the lock file (its inode, modification
time and bytes); a stale lock is then removed only if, under the guard, the file is still that very
snapshot. Another start may have replaced it meanwhile (with a lock of another job, or of the same job
resumed), and no start can replace it between that check and the unlink: taking a lock over is safe
against starts in other processes and in other threads of the app.

A lock is released by its job id, checked under the guard too. A job id alone does not tell one start
of a job from the next (a resume takes a new lock for the same id), so whoever releases a lock on the
strength of an earlier judgement names the very lock it means: the runner that found a worker dead
releases only a lock naming that worker (``pid`` and ``pid_start``), and a start that failed only the
lock it took (:meth:`WorkspaceLock.acquire` returns it: ``pid`` None and its ``since``) or the one
naming its worker. A worker ending releases only its own lock: the one naming it, or the pid-less lock
its runner took for its attempt, whose ``since`` the runner hands it in :data:`LOCK_SINCE_VARIABLE`
(:mod:`geoapp.jobs.worker`). A lock left in place by such a careful release is stale once the job's
processes are gone, and the next look at it removes it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from geoapp.data.args import as_path
from geoapp.errors import GeoappError, InputError
from geoapp.fileio import atomic_write_text
from geoapp.jobs.guard import guarded
from geoapp.jobs.processes import process_alive, start_ticks
from geoapp.jobs.ranks import live_ranks
from geoapp.jobs.status import ACTIVE_STATES, STARTING_TIMEOUT_S, read_status

__all__ = ["LOCK_FILE", "GUARD_FILE", "LOCK_SINCE_VARIABLE", "JobBusyError", "WorkspaceLock", "release_lock"]

LOCK_FILE = "lock.json"
GUARD_FILE = "lock.guard"
"""Beside the lock: held (``flock``) while ``lock.json`` is created, rewritten or removed."""
LOCK_SINCE_VARIABLE = "GEOAPP_JOB_LOCK_SINCE"
"""In a worker's environment: the ``since`` of the lock its runner took for its attempt (``repr`` of the float)."""

_JUDGE_TRIES = 3
"""Times :meth:`WorkspaceLock.holder` judges a lock that other starts keep replacing before it calls it held."""

_Snapshot = tuple[int, int, bytes | None]
"""What identifies one lock file: its inode, its modification time (ns) and its bytes (None if unreadable)."""


class JobBusyError(GeoappError):
    """A job is already running in this workspace (one at a time)."""


def _guard(root: Path) -> AbstractContextManager[None]:
    """The guard of the lock in the jobs folder ``root`` (see the module's docstring)."""
    return guarded(root / GUARD_FILE, f"the workspace lock {str(root / LOCK_FILE)!r}")


def _parse(raw: bytes | None) -> Any:
    """The lock's JSON, or None when it is not (not UTF-8, not JSON, nested too deeply, unreadable)."""
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


def _snapshot(path: Path) -> tuple[dict[str, Any] | None, _Snapshot | None]:
    """The lock's content and identity, read through one open file; (None, None) when there is none.

    A garbled or unreadable lock reads as a pid-less start from its modification time.
    """
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            try:
                raw: bytes | None = f.read()
            except OSError:
                raw = None
    except FileNotFoundError:
        return None, None
    except OSError:  # cannot be opened (permissions): judged by its modification time alone
        try:
            st = path.stat()
        except FileNotFoundError:
            return None, None
        except OSError:
            return {"since": 0}, None
        raw = None
    lock = _parse(raw)
    if not isinstance(lock, dict) or not isinstance(lock.get("since", 0), int | float):
        lock = {"since": st.st_mtime}
    return lock, (st.st_ino, st.st_mtime_ns, raw)


_IDENTITY = ("pid", "pid_start", "since")
"""The fields of a lock that tell one start of a job from another (see :func:`release_lock`)."""


def release_lock(root: str | Path, job_id: str, **identity: Any) -> None:
    """Remove the workspace lock if ``job_id`` holds it (called by a worker as it ends, and by the runner).

    ``identity`` (any of ``pid``, ``pid_start`` and ``since``) restricts the release to a lock whose
    fields have those values: one start's lock (module docstring), never a later start's lock of the
    same job. The check and the unlink happen under the lock's guard, so a lock another start took
    meanwhile is never removed. A guard that stays busy leaves the lock in place: once the job's
    processes are gone it is stale, and the next start takes it over.

    Raises:
        InputError: ``root`` is not a path, or ``identity`` names another field.
    """
    root = as_path(root, "root")
    unknown = sorted(set(identity) - set(_IDENTITY))
    if unknown:
        raise InputError(f"a lock is told from another by {', '.join(_IDENTITY)}; got {', '.join(unknown)}")
    path = root / LOCK_FILE

    def held_by_job() -> bool:
        lock, _ = _snapshot(path)
        return (
            lock is not None
            and lock.get("job_id") == job_id
            and all(key in lock and lock[key] == value for key, value in identity.items())
        )

    try:
        if not held_by_job():  # nothing of ours to release: leave the guard (and the folder) alone
            return
        with _guard(root):
            if held_by_job():
                path.unlink()
    except OSError:  # the folder is gone or read-only, or the guard stayed busy (GuardTimeoutError)
        pass


class WorkspaceLock:
    """The lock of the jobs folder ``root``.

    Args:
        root: the jobs folder (holds ``lock.json``, ``lock.guard`` and the job folders).
        job_active: whether a job id names a job that is still active (starting, running, cancelling);
            asked about the holder to tell a live lock from a stale one. Called outside the lock's guard
            (it may itself release the lock of a job it finds dead).
    """

    def __init__(self, root: Path, job_active: Callable[[str], bool]) -> None:
        self.root = as_path(root, "root")
        if not callable(job_active):
            raise InputError(f"job_active must be a function of a job id, got {type(job_active).__name__}")
        self.path = self.root / LOCK_FILE
        self._job_active = job_active

    def _read(self) -> dict[str, Any] | None:
        """The lock's content (None when there is none); a garbled lock reads as a pid-less start from its mtime."""
        return _snapshot(self.path)[0]

    def holder(self) -> dict[str, Any] | None:
        """The lock's content if a live job holds it; a stale lock is removed and None returned.

        The lock is judged outside the guard and removed under it only if it is still the very file
        judged stale; one replaced meanwhile by another start is judged in turn (and kept when live).

        Raises:
            GuardTimeoutError: a stale lock must be removed but another process holds the guard too long.
        """
        lock: dict[str, Any] | None = None
        for _ in range(_JUDGE_TRIES):
            lock, seen = _snapshot(self.path)
            if lock is None:
                return None
            if self._live(lock):
                return lock
            with _guard(self.root):
                current, now = _snapshot(self.path)
                if current is None:
                    return None  # removed meanwhile (a release, or another start's take-over)
                if now == seen and seen is not None:
                    self.path.unlink()  # under the guard: no start can have replaced it since the snapshot
                    return None
        return lock  # replaced again and again by other starts: count the last one seen as held

    def _live(self, lock: dict[str, Any]) -> bool:
        """Whether ``lock`` is held: a start in progress, an active job, or a process of the job still running."""
        job_id = lock.get("job_id")
        starting = lock.get("pid") is None and time.time() - float(lock.get("since") or 0) < STARTING_TIMEOUT_S
        if starting:
            return True  # a start or resume in progress: its folder and status are being written, no worker yet
        if job_id and self._job_active(str(job_id)):
            return True
        return bool(self._processes(lock))  # its job folder may be gone or final, but a process of it still runs

    def _processes(self, lock: dict[str, Any]) -> list[int]:
        """The pids of the lock's job that still run: its worker (or torchrun launcher) and its recorded ranks."""
        pids = []
        pid, ticks = lock.get("pid"), lock.get("pid_start")
        if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
            if process_alive(pid, ticks if isinstance(ticks, int) and not isinstance(ticks, bool) else None):
                pids.append(pid)
        job_id = lock.get("job_id")
        if isinstance(job_id, str) and job_id not in ("", ".", "..") and Path(job_id).name == job_id:
            pids += [rank for rank in live_ranks(self.root / job_id) if rank not in pids]
        return pids

    def _busy_message(self, holder: dict[str, Any]) -> str:
        job_id = holder.get("job_id")
        one_at_a_time = "one training job runs at a time"
        if job_id and not (self.root / str(job_id)).is_dir() and holder.get("pid") is not None:
            return (
                f"job {job_id!r} holds the lock: its folder {str(self.root / str(job_id))!r} is gone but its worker "
                f"(pid {holder['pid']}) still runs; {one_at_a_time}: wait for it to end, or stop that process"
            )
        status = read_status(self.root / str(job_id)) if job_id else {}
        state = status.get("state", "starting")
        if state not in ACTIVE_STATES and holder.get("pid") is not None:
            pids = self._processes(holder)
            return (
                f"job {job_id or '?'!r} ({status.get('name', '?')}) is {state}, but processes of it still run "
                f"(pid {', '.join(map(str, pids)) or '?'}); {one_at_a_time}: wait for them to exit, or stop them"
            )
        return f"job {job_id or '?'!r} ({status.get('name', '?')}) is {state}; {one_at_a_time}: wait for it, or cancel it first"

    def acquire(self, job_id: str) -> dict[str, Any]:
        """Take the lock for ``job_id`` (no pid yet), taking over a stale one; returns the lock taken.

        The lock returned (``job_id``, ``pid`` None, ``since``) tells this start's lock from a later
        start's of the same job: pass its ``pid`` and ``since`` to :meth:`release` to free this one alone.

        Raises:
            JobBusyError: a live job holds the lock, or another start took it in between.
            GuardTimeoutError: another process held the lock's guard too long.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".lock-{job_id}-{os.getpid()}-{threading.get_ident()}"  # per thread: the app starts jobs from several
        lock = {"job_id": job_id, "pid": None, "since": round(time.time(), 3)}
        tmp.write_text(json.dumps(lock))
        try:
            for _ in range(2):
                with _guard(self.root):
                    try:
                        os.link(tmp, self.path)  # atomic: fails if a lock exists; never a half-written lock
                        return lock
                    except FileExistsError:
                        pass
                holder = self.holder()  # removes a stale lock (outside the guard: judging it takes the guard itself)
                if holder is not None:
                    raise JobBusyError(self._busy_message(holder))
            raise JobBusyError("could not take the job lock (another start raced this one); try again")
        finally:
            tmp.unlink(missing_ok=True)

    def record_worker(self, job_id: str, pid: int, since: float | None = None) -> None:
        """Name the started worker in the lock, unless another start has taken the lock meanwhile.

        ``since``: the ``since`` of the pid-less lock this start took (:meth:`acquire` returns it); when
        given, only that very lock is rewritten, never one a later start of the same job took after this
        one's was judged stale.

        Raises:
            GuardTimeoutError: another process held the lock's guard too long.
        """
        lock = {"job_id": job_id, "pid": pid, "pid_start": start_ticks(pid), "since": round(time.time(), 3)}
        with _guard(self.root):  # never overwrite a lock another start has taken meanwhile
            current = self._read()
            ours = current is not None and current.get("job_id") == job_id
            if ours and since is not None:
                ours = current.get("pid") is None and current.get("since") == since
            if ours:
                atomic_write_text(self.path, json.dumps(lock))

    def release(self, job_id: str, **identity: Any) -> None:
        """Remove the lock if ``job_id`` holds it (and, when given, it has the fields ``identity``: :func:`release_lock`).

        Raises:
            InputError: ``identity`` names a field other than ``pid``, ``pid_start`` and ``since``.
        """
        release_lock(self.root, job_id, **identity)
