"""A job's processes, through psutil: starting a worker, telling whether it lives, killing whole trees.

A pid alone does not name a process for long (the kernel reuses pids), so a job records each process
it watches as ``(pid, start ticks)``: the start time in clock ticks since boot, the value Linux keeps
in ``/proc/<pid>/stat`` and the one ``status.json`` and the ranks' pid files hold. A process that
started at another time is another process, and a zombie (exited, not yet reaped) is not alive.

Workers are started in sessions of their own (their own process group), so they outlive the app's
process; :func:`kill_process_trees` therefore reaches each process group as well as every descendant
(torchrun starts each rank in a session of its own too), and :func:`kill_trees` names the processes
that outlived the kill (one stuck in the kernel, or another user's), for a caller that must say which.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import psutil

from geoapp.data.args import as_int, as_number, given
from geoapp.errors import InputError

__all__ = [
    "start_ticks",
    "find_process",
    "process_alive",
    "descendants",
    "spawn_session",
    "child_environment",
    "reap_children",
    "kill_process_trees",
    "kill_trees",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
"""Clock ticks per second of the kernel's process start times (usually 100)."""

_CHILDREN: dict[int, subprocess.Popen] = {}
"""Workers this process started, by pid; reaped on status reads so finished ones do not linger as zombies."""


def _ticks(proc: psutil.Process) -> int:
    """``proc``'s start time in clock ticks since boot (psutil gives seconds since the epoch)."""
    return round((proc.create_time() - psutil.boot_time()) * CLOCK_TICKS)


def _pid(pid: object) -> int | None:
    """``pid`` as an int, None for None or a number no process has (0, negative).

    Raises:
        InputError: ``pid`` is not a whole number (text, a float such as 1.5, a bool).
    """
    if pid is None:
        return None
    pid = as_int(pid, "pid")
    return pid if pid > 0 else None


def start_ticks(pid: int | None) -> int | None:
    """The process's start time in clock ticks since boot, None if there is no such process.

    Raises:
        InputError: ``pid`` is not a whole number (or None).
    """
    pid = _pid(pid)
    if pid is None:
        return None
    try:
        return _ticks(psutil.Process(pid))
    except (psutil.Error, ValueError, OverflowError):
        return None


def find_process(pid: int | None, start_ticks: int | None = None) -> psutil.Process | None:
    """The process ``pid`` if it runs (not a zombie) and, when given, started at ``start_ticks``; else None.

    Raises:
        InputError: ``pid`` or ``start_ticks`` is not a whole number (or None).
    """
    pid = _pid(pid)
    if start_ticks is not None:
        start_ticks = as_int(start_ticks, "start_ticks")
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
    except (psutil.NoSuchProcess, ValueError, OverflowError):
        return None
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if start_ticks is not None and _ticks(proc) != start_ticks:
            return None  # the pid was reused by another process
    except psutil.NoSuchProcess:  # gone meanwhile (ZombieProcess is a NoSuchProcess too)
        return None
    except psutil.AccessDenied:
        pass  # another user's process: it exists
    return proc


def process_alive(pid: int | None, start_ticks: int | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, started at ``start_ticks``."""
    return find_process(pid, start_ticks) is not None


def descendants(pid: int) -> list[int]:
    """The pids of every process below ``pid`` (children, grandchildren...); [] if ``pid`` is gone.

    Raises:
        InputError: ``pid`` is not a whole number.
    """
    pid = _pid(as_int(pid, "pid"))
    if pid is None:
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except (psutil.NoSuchProcess, ValueError, OverflowError):
        return []


PATH_VARIABLES = ("GEOAPP_DATA_DIR", "GEOAPP_CHECKPOINT_DIR", "GEOAPP_JOBS_DIR", "GEOAPP_EXPERIMENTS_DIR")
"""geoapp's folder settings: a child process started in another folder must get them absolute."""


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process that runs from the repository, :data:`PATH_VARIABLES` made absolute.

    A relative ``GEOAPP_JOBS_DIR=jobs`` means this process's ``./jobs``; the child, started with the
    repository as its working folder, would read it as the repository's and see another jobs folder
    (another job lock, other queues). ``extra`` is added last.
    """
    env = dict(os.environ)
    for var in PATH_VARIABLES:
        if env.get(var):
            env[var] = str(Path(env[var]).absolute())
    return env | (extra or {})


def spawn_session(command: list[str], cwd: str | Path, env: dict[str, str], log: IO[str]) -> subprocess.Popen:
    """Start ``command`` in a new session (its own process group), its output appended to ``log``.

    The new process outlives this one (Streamlit reruns, the app's own exit); while this process
    lives it reaps it (:func:`reap_children`) so that it does not linger as a zombie once finished.
    """
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _CHILDREN[proc.pid] = proc
    return proc


def reap_children() -> None:
    """Collect the exit status of every worker this process started that has finished."""
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)


def _running(proc: psutil.Process) -> bool:
    """True while ``proc`` (the very process, not a later one with its pid) runs and is not a zombie."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_process_trees(roots: Iterable[psutil.Process], timeout: float = 5.0, poll_s: float = 0.05) -> bool:
    """SIGKILL each root, every process below it, and the process group each of them leads.

    Returns True once all of them are gone (zombies count as gone), False if some still run after
    ``timeout`` seconds (:func:`kill_trees` names them).

    Raises:
        InputError: ``roots`` is not an iterable of ``psutil.Process``, ``timeout`` not a finite number of
            seconds >= 0, or ``poll_s`` not a positive one.
    """
    return not kill_trees(roots, timeout, poll_s)


def _protected_pids() -> set[int]:
    """Pids no kill may reach: 0, init (1), this process and every process above it (the app, a shell)."""
    protected = {0, 1, os.getpid()}
    try:
        protected.update(p.pid for p in psutil.Process().parents())
    except psutil.Error:
        protected.add(os.getppid())
    return protected


def kill_trees(roots: Iterable[psutil.Process], timeout: float = 5.0, poll_s: float = 0.05) -> list[int]:
    """As :func:`kill_process_trees`, but returns the pids of the processes still running after ``timeout`` seconds.

    ``[]`` once all of them are gone (zombies count as gone); checked at least once, even for a
    ``timeout`` of 0. A survivor is one of the roots or a process that was below one of them when the
    kill was sent (it may have left the tree since).

    Raises:
        InputError: ``roots`` is not an iterable of ``psutil.Process``, ``timeout`` not a finite number of
            seconds >= 0, or ``poll_s`` not a positive one.
    """
    if isinstance(roots, (str, bytes)) or not isinstance(roots, Iterable):
        raise InputError(f"roots must be an iterable of psutil.Process, got {given(roots)}")
    roots = list(roots)
    if not all(isinstance(root, psutil.Process) for root in roots):
        raise InputError(f"roots must be an iterable of psutil.Process, got {given(roots)}")
    timeout = as_number(timeout, "timeout", "seconds", zero_ok=True)
    poll_s = as_number(poll_s, "poll_s", "seconds")
    protected = _protected_pids()
    victims: dict[psutil.Process, None] = {}
    for root in roots:
        if root.pid in protected:  # init, this process or one above it: never a job's (a recorded pid gone wrong)
            continue
        victims[root] = None
        try:
            victims.update(dict.fromkeys(root.children(recursive=True)))
        except psutil.NoSuchProcess:
            pass
    own_group = os.getpgrp()
    for victim in list(victims):
        if victim.pid in protected:
            del victims[victim]
            continue
        try:
            if victim.is_running() and victim.pid != own_group:  # never the group of a later process, nor our own
                os.killpg(victim.pid, signal.SIGKILL)  # a group leader's group: members that left the tree too
        except (ProcessLookupError, PermissionError):
            pass
        try:
            victim.kill()  # psutil refuses a pid that now names another process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    deadline = time.time() + timeout
    while True:
        reap_children()
        left = sorted({victim.pid for victim in victims if _running(victim)})
        if not left or time.time() >= deadline:
            return left
        time.sleep(poll_s)
