"""Short critical sections shared by every process of a workspace: an exclusive ``flock`` on a guard file.

The files of a jobs folder are read, judged and rewritten by several processes at once: the app (each
browser session a thread of it), the command line, the experiments queue's keeper and the workers.
A change that reads a file, decides and writes it back (taking over a stale workspace lock, merging an
update into a job's status) must not interleave with another such change, or one of them acts on what
it read before the other wrote and undoes it. :func:`guarded` holds an exclusive ``flock`` on a guard
file beside what it protects for a ``with`` block; every change of that file happens inside one.

``flock`` locks belong to an open file, not to a process: two threads of one process that each open
the guard exclude each other as two processes do, and the kernel drops the lock when its holder dies,
so a killed process never leaves a guard held. A guard is held for milliseconds (a read, a decision,
a write or an unlink), never while a job trains, and never while another guard is taken: a process
that took a guard it already holds would wait for itself. A guard still busy after
:data:`GUARD_TIMEOUT_S` seconds (its holder stopped with Ctrl-Z, a hung disk) raises
:class:`GuardTimeoutError` instead of hanging the app.

Guard files stay once created and hold nothing: removing one while another process waits on it would
let a third process lock a new file of that name beside it. POSIX only (``fcntl``), as the rest of the
job machinery (process groups, ``/proc`` start times).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geoapp.data.args import as_number, as_path
from geoapp.errors import GeoappError

__all__ = ["GUARD_TIMEOUT_S", "GuardTimeoutError", "guarded"]

GUARD_TIMEOUT_S = 30.0
"""Seconds a process waits for a guard before giving up (its holders keep it for milliseconds)."""

_MAX_POLL_S = 0.05
"""The longest pause between two tries at a busy guard (the first pauses are shorter)."""


class GuardTimeoutError(GeoappError, TimeoutError):
    """Another process held a guard file for longer than the timeout."""


def _open(path: Path) -> int:
    """A file descriptor on ``path`` (created if missing); read only for a guard file of another user."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError as exc:
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # flock works on a read-only descriptor too
        except FileNotFoundError:
            raise exc from None  # a read-only folder without the file: the permission is what went wrong


@contextmanager
def guarded(path: str | Path, what: str, timeout_s: float | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the guard file ``path`` for the ``with`` block.

    Args:
        path: the guard file (created if missing; its folder must exist).
        what: what the guard protects, for the error message ("the workspace lock ...").
        timeout_s: seconds to wait for another holder (>= 0; 0 tries once); default :data:`GUARD_TIMEOUT_S`.

    Raises:
        GuardTimeoutError: another process (or another open of the file in this one) held it longer.
        InputError: ``path`` is not a path, or ``timeout_s`` not a finite number of seconds >= 0.
        OSError: the guard file can be neither created nor opened.
    """
    path = as_path(path, "path")
    timeout = GUARD_TIMEOUT_S if timeout_s is None else timeout_s
    timeout = as_number(timeout, "timeout_s", "seconds", zero_ok=True)
    fd = _open(path)
    try:
        deadline, pause = time.monotonic() + timeout, 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GuardTimeoutError(
                        f"{str(path)!r}, which guards {what}, has been held by another process for more than "
                        f"{timeout:g} s (its holders need milliseconds); if a geoapp process is stopped (Ctrl-Z) or "
                        "its disk hangs, resume or end it, then try again"
                    ) from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, _MAX_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
