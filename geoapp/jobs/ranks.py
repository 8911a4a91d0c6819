"""What the torchrun ranks of a job leave in its folder: their pids and the error that stopped one.

Under torchrun each rank runs in a session of its own, so the launcher's death does not end them: a
job lives while any of its ranks does, and cancel and kill must reach every rank. Each rank therefore
writes ``rank-<N>.pid`` ("pid start_ticks", see :mod:`geoapp.jobs.processes`) as it starts, and a rank
other than 0 that fails writes its exception to ``error-rank-<N>.txt`` (torchrun stops rank 0 before
it can report it in ``status.json``).

The pid files also keep the workspace lock (:mod:`geoapp.jobs.lock`) held until the last process of a
job has ended: rank 0 writes the final status before the other ranks (and torchrun) have exited, so a
finished job's lock stays while :func:`live_ranks` names a rank of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from geoapp.data.args import as_int, as_path
from geoapp.fileio import atomic_write_text
from geoapp.jobs.processes import process_alive, start_ticks

__all__ = [
    "rank_pid_file",
    "rank_error_file",
    "record_rank",
    "rank_processes",
    "live_ranks",
    "first_rank_error",
    "clear_rank_files",
]


def rank_pid_file(job_dir: Path, rank: int) -> Path:
    """Where a torchrun rank writes "pid start_ticks".

    Ranks run in sessions of their own, so the launcher's death does not end them: the runner watches
    and kills them by these files.

    Raises:
        InputError: ``job_dir`` is not a path, or ``rank`` not a whole number >= 0.
    """
    return as_path(job_dir, "job_dir") / f"rank-{as_int(rank, 'rank', minimum=0)}.pid"


def rank_error_file(job_dir: Path, rank: int) -> Path:
    """Where a rank other than 0 writes the exception that stopped it (rank 0 writes the status).

    Raises:
        InputError: ``job_dir`` is not a path, or ``rank`` not a whole number >= 0.
    """
    return as_path(job_dir, "job_dir") / f"error-rank-{as_int(rank, 'rank', minimum=0)}.txt"


def record_rank(job_dir: Path, rank: int) -> None:
    """Write this process's pid and start ticks as rank ``rank`` of the job (called by each rank)."""
    ticks = start_ticks(os.getpid())
    atomic_write_text(rank_pid_file(job_dir, rank), f"{os.getpid()} {'-' if ticks is None else ticks}\n")


def rank_processes(job_dir: Path) -> list[tuple[int, int | None]]:
    """(pid, start ticks) of every rank that recorded itself; unreadable files are skipped.

    Raises:
        InputError: ``job_dir`` is not a path.
    """
    out = []
    for path in sorted(as_path(job_dir, "job_dir").glob("rank-*.pid")):
        try:
            pid, ticks = path.read_text().split()
            out.append((int(pid), None if ticks == "-" else int(ticks)))
        except (OSError, ValueError):
            continue
    return out


def live_ranks(job_dir: Path) -> list[int]:
    """The pids of the ranks that recorded themselves and still run (the very processes: pid and start ticks).

    Raises:
        InputError: ``job_dir`` is not a path.
    """
    return [pid for pid, ticks in rank_processes(job_dir) if process_alive(pid, ticks)]


def first_rank_error(job_dir: Path) -> str | None:
    """``"rank-N failed: <error>"`` for the lowest-named rank that wrote an error, None if none did.

    Raises:
        InputError: ``job_dir`` is not a path.
    """
    rank_errors = sorted(as_path(job_dir, "job_dir").glob("error-rank-*.txt"))
    if not rank_errors:
        return None
    try:
        return f"{rank_errors[0].stem.removeprefix('error-')} failed: {rank_errors[0].read_text(encoding='utf-8').strip()[:500]}"
    except OSError:
        return None


def clear_rank_files(job_dir: Path) -> None:
    """Remove the pid and error files of an earlier attempt (before the job starts again).

    Raises:
        InputError: ``job_dir`` is not a path.
    """
    job_dir = as_path(job_dir, "job_dir")
    for stale in [*job_dir.glob("rank-*.pid"), *job_dir.glob("error-rank-*.txt")]:
        stale.unlink(missing_ok=True)
