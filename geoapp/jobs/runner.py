"""Start, watch, cancel and resume training jobs as separate processes (no Streamlit here).

A job lives in ``<jobs dir>/<job id>/`` (:func:`geoapp.paths.jobs_dir`): ``spec.json`` (what to
train), ``status.json`` (:mod:`geoapp.jobs.status`), ``log.txt`` (the worker's output). The worker is
a new session (its own process group), so it outlives Streamlit reruns, browser sessions and the
app's process itself. Its checkpoints go to ``<checkpoint dir>/user/<kind>/<name>/`` (``best/``,
``last/``, ``metrics.jsonl``), where every model selector of the app finds them.

One job at a time per workspace (:mod:`geoapp.jobs.lock`): a second start is refused with a message
naming the running job; the lock of a job that is gone (killed, crashed, machine restarted) is stale
and taken over. A job of several ranks holds the lock until torchrun and every rank have exited, not
only until rank 0 has written the final status. The processes are watched and killed through
:mod:`geoapp.jobs.processes`; torchrun's ranks record themselves as :mod:`geoapp.jobs.ranks` describes.
Changes of the lock and of a job's status happen under short file locks (:mod:`geoapp.jobs.guard`), so
the app's sessions, the command line, the queue's keeper and the workers never undo each other's.

Cancel asks the worker to stop at its next step (``cancel.request``); a worker still alive
``grace_s`` seconds later is killed with its whole process group (torchrun and all ranks).
A job whose worker died without writing a final state is marked ``failed``; ``resume`` restarts it
from its last finished epoch, once every process of its previous attempt is gone: one that outlives
the kill (stuck in the kernel, another user's) has the resume refused, naming its pid. A job whose
status file is damaged is listed as ``broken`` with the reason (:func:`geoapp.jobs.status.read_status`);
resuming or cancelling it is refused with that reason.
A start first checks that the jobs folder can be written, so nothing starts that could not be recorded.

Any process may find a job dead (its status is read, then its processes are asked after), and two may
do so at once; meanwhile the first to act may mark the job failed and the user resume it. Marking a
job dead therefore acts only on the attempt judged dead: ``failed`` is written only while the status,
under its lock, still names that attempt (:func:`geoapp.jobs.status.write_status_if`), and the workspace
lock is released only if it names that attempt's worker, never a resume's new lock of the same job id.
Killing a cancelled job past its grace period likewise kills the processes of the attempt judged (its
worker and the ranks recorded when it was judged), never those a resume started meanwhile, whatever the
status says by then. A start or resume that fails likewise undoes only its own doings, and never
reports a failure while its worker runs: a worker already spawned is killed first (see
:meth:`JobRunner._spawn_failed`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoapp.data.args import as_int, as_number, as_optional_path, given
from geoapp.errors import DataFileError, GeoappError, InputError
from geoapp.fileio import atomic_write_text
from geoapp.jobs.lock import LOCK_FILE, LOCK_SINCE_VARIABLE, JobBusyError, WorkspaceLock, release_lock
from geoapp.jobs.processes import (
    child_environment,
    find_process,
    kill_trees,
    process_alive,
    reap_children,
    spawn_session,
    start_ticks,
)
from geoapp.jobs.ranks import (
    clear_rank_files,
    first_rank_error,
    live_ranks,
    rank_error_file,
    rank_pid_file,
    rank_processes,
)
from geoapp.jobs.spec import KIND_DIRS, JobSpec, run_folder_used
from geoapp.jobs.status import (
    ACTIVE_STATES,
    BROKEN,
    CANCEL_FILE,
    LOG_FILE,
    SPEC_FILE,
    STARTING_TIMEOUT_S,
    STATUS_FILE,
    broken_status,
    log_tail,
    read_status,
    spec_kind_and_name,
    write_status,
    write_status_if,
)
from geoapp.paths import REPO_ROOT, checkpoint_dir, jobs_dir

__all__ = [
    "JobRunner",
    "JobBusyError",
    "release_lock",
    "process_alive",
    # defined in geoapp.jobs.lock / ranks / status, and importable from here as they were
    "LOCK_FILE",
    "STARTING_TIMEOUT_S",
    "rank_pid_file",
    "rank_error_file",
    "KIND_DIRS",
]

_JOB_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9]{6}$")
_WORKER_FIELDS = ("pid", "pid_start", "attempts")
"""The status fields that name one attempt's worker: the same values, the same attempt (see :meth:`JobRunner._mark_dead`)."""


@dataclass
class _Attempt:
    """What one start or resume of a job has done so far: what :meth:`JobRunner._spawn_failed` may undo."""

    job_id: str
    lock: dict[str, Any]
    """The workspace lock it took (no pid, its ``since``)."""
    written: float | None = None
    """``updated`` of its last status write (None before its first)."""
    worker: tuple[int, int | None] | None = None
    """Its worker's pid and start ticks, once spawned."""
    new_run: Path | None = None
    """A new job's run folder once it wrote its owner file there (None for a resume): undone if the start fails."""


class JobRunner:
    """The training jobs of one workspace (``root``, default :func:`geoapp.paths.jobs_dir`).

    Args:
        root: folder of the job folders and the lock.
        grace_s: seconds (>= 0, finite) a cancelled worker gets to stop by itself before it is killed.

    Raises:
        InputError: ``root`` is not a path (or None), or ``grace_s`` is not a finite number of seconds >= 0.
    """

    def __init__(self, root: str | Path | None = None, grace_s: float = 15.0) -> None:
        root = as_optional_path(root, "root")
        self.root = root.absolute() if root is not None else jobs_dir()
        self.grace_s = as_number(grace_s, "grace_s", "seconds", zero_ok=True)
        self._lock = WorkspaceLock(self.root, self._holds_active_job)

    def _check_root(self) -> None:
        """Refuse a jobs folder that is a file (nothing could be listed, locked or started there).

        Raises:
            DataFileError: naming the folder and what to do.
        """
        if self.root.exists() and not self.root.is_dir():
            raise DataFileError(f"the jobs folder {str(self.root)!r} is a file; set GEOAPP_JOBS_DIR to a folder")

    # ---- the lock ---------------------------------------------------------------------------------
    def lock_holder(self) -> dict[str, Any] | None:
        """The lock's content if a live job holds it; a stale lock is removed and None returned.

        Raises:
            DataFileError: the jobs folder is a file.
        """
        self._check_root()
        reap_children()
        return self._lock.holder()

    def _holds_active_job(self, job_id: str) -> bool:
        """Whether ``job_id`` (named by the lock) is a job of this workspace that is still active."""
        try:
            return (self.root / job_id / SPEC_FILE).exists() and self.status(job_id).get("state") in ACTIVE_STATES
        except GeoappError:
            return False  # not a job id, or no such job: the lock's worker is judged by its process alone

    def _check_writable(self) -> None:
        """Refuse to start when the jobs folder cannot be written (before the lock or anything else is taken).

        Raises:
            DataFileError: naming the folder, the reason and what to do.
        """
        self._check_root()
        probe = self.root / f".write-check-{os.getpid()}-{threading.get_ident()}"  # per thread: the app checks from several
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise DataFileError(
                f"cannot write to the jobs folder {str(self.root)!r}: {exc.strerror or exc}; "
                "set GEOAPP_JOBS_DIR to a writable folder"
            ) from exc

    # ---- starting ---------------------------------------------------------------------------------
    def run_folder(self, spec: JobSpec) -> Path:
        """Where the job's checkpoints go: ``<checkpoint dir>/user/<kind>/<name>``.

        Raises:
            InputError: ``spec`` is not a :class:`~geoapp.jobs.spec.JobSpec`.
        """
        _check_spec(spec)
        return checkpoint_dir() / "user" / KIND_DIRS[spec.kind] / spec.name

    def start(self, spec: JobSpec) -> str:
        """Validate, take the lock, and start ``spec`` in a new process; returns the job id.

        Raises:
            InputError: invalid spec, or a run of that name already exists (pick another name, or resume it).
            JobBusyError: another job is running.
            DataFileError: the jobs folder or the checkpoint folder cannot be written.
        """
        from geoapp.training.checkpoint import ensure_writable

        _check_spec(spec)
        self._check_writable()
        out = self.run_folder(spec)
        if run_folder_used(out):
            raise InputError(f"a run named {spec.name!r} already exists in {str(out)!r}; choose another name (or resume its job)")
        job_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid() % 1000:03d}{int(time.time() * 1000) % 1000:03d}"
        attempt = _Attempt(job_id, self._lock.acquire(job_id))
        try:
            ensure_writable(out)
            atomic_write_text(out / OWNER_FILE, job_id)  # whose run the folder holds (resume checks it)
            attempt.new_run = out
            job_dir = self.root / job_id
            job_dir.mkdir(parents=True)
            atomic_write_text(job_dir / SPEC_FILE, json.dumps(spec.to_dict(), indent=1))
            attempt.written = write_status(
                job_dir,
                job_id=job_id,
                kind=spec.kind,
                name=spec.name,
                state="starting",
                created=round(time.time(), 3),
                out=str(out),
                attempts=0,
                workers=spec.workers,
            )["updated"]
            self._spawn(attempt, resume=False)
        except BaseException as exc:
            self._spawn_failed(attempt, exc)
            raise
        return job_id

    def resume(self, job_id: str) -> str:
        """Start a failed or cancelled job again from its last finished epoch; returns its id.

        Every process of the previous attempt (a worker or rank still tearing down) is killed first;
        if one outlives the kill, the resume is refused and its lock released: nothing is started beside it.

        Raises:
            InputError: no such job, or it is not failed/cancelled.
            DataFileError: its status file is damaged, or the jobs folder cannot be written.
            JobBusyError: another job is running, or processes of the job's previous attempt survive the kill
                (their pids named).
        """
        status = self.status(job_id)
        if status.get("state") == BROKEN:
            raise DataFileError(f"job {job_id!r} cannot be resumed: {status.get('error')}")
        if status.get("state") not in ("failed", "cancelled"):
            raise InputError(f"job {job_id!r} is {status.get('state', 'unknown')}; only a failed or cancelled job can be resumed")
        spec = self.spec(job_id)
        spec.check_run_folder(status.get("out") or "", checkpoint_dir())  # a damaged status must not point the run elsewhere
        _check_owner(Path(status["out"]), job_id)
        self._check_writable()
        attempt = _Attempt(job_id, self._lock.acquire(job_id))
        try:
            # nothing of the previous attempt (e.g. a rank still tearing down) may run beside the new one
            left = _kill_records(_records(self.root / job_id), timeout=5.0)
            if left:
                raise JobBusyError(
                    f"job {job_id!r} cannot be resumed: processes of its previous attempt still run after being killed "
                    f"(pid {', '.join(map(str, left))}); wait for them to exit, or stop them, then resume it again"
                )
            (self.root / job_id / CANCEL_FILE).unlink(missing_ok=True)
            attempt.written = write_status(
                self.root / job_id, state="starting", error=None, finished=None, eta_s=None, pid=None, pid_start=None
            )["updated"]
            self._spawn(attempt, resume=True)
        except BaseException as exc:
            self._spawn_failed(attempt, exc)
            raise
        return job_id

    def _spawn_failed(self, attempt: _Attempt, exc: BaseException) -> None:
        """Undo a start or resume that raised ``exc``: stop its worker, mark the job failed, free its lock.

        A worker already spawned (the failure came after: its pid's status write, naming it in the lock,
        a Ctrl-C) is killed first, with its process group, everything below it and the ranks it recorded.
        Killing is the safe choice: the caller is told the start failed (the Training page shows the
        error, the experiments queue records the run as failed and moves on), so a worker left training
        would hold the workspace lock and write a run nobody waits for, while its status and lock may
        not even name it (the very write that failed). It has run for milliseconds: nothing is lost. The
        pid cannot name another process meanwhile: it is checked with the start ticks taken at the spawn.

        A worker that cannot be stopped (still there after the kill's timeout) is left running, the job as
        it is: it writes its own status (naming itself if the runner could not), and the liveness checks of
        :meth:`status` mark the job once it is gone; ``exc`` gets a note saying so.

        Then ``failed`` is written only if the status is still this attempt's (none yet, the last one it
        wrote, or one naming its worker), and only the lock it took, or the lock naming its worker, is
        released: another process may have found the job dead and resumed it meanwhile (see the module's
        docstring). A resume refused before it wrote anything (processes of the previous attempt survive)
        thus leaves the status as it was and frees its lock. What is not undone here the liveness checks
        and the lock's staleness take care of.
        """
        job_dir = self.root / attempt.job_id
        if attempt.worker is not None and (left := _kill_records([attempt.worker, *rank_processes(job_dir)], timeout=5.0)):
            exc.add_note(
                f"job {attempt.job_id!r} is not marked failed: its worker (pid {attempt.worker[0]}) could not be "
                f"stopped and runs on (pid {', '.join(map(str, left))} still there); the job is watched as any other "
                "and marked once the worker is gone"
            )
            return

        def still_ours(current: dict[str, Any]) -> bool:
            if not current:
                return True  # a new job's first status write failed (a resume needs a status to start from)
            if attempt.written is not None and current.get("updated") == attempt.written:
                return True  # as this attempt left it
            worker = (current.get("pid"), current.get("pid_start"))
            return current.get("state") in ACTIVE_STATES and attempt.worker is not None and worker == attempt.worker

        try:
            if (job_dir / SPEC_FILE).exists():
                error = f"could not start: {exc}"
                write_status_if(job_dir, still_ours, state="failed", finished=round(time.time(), 3), error=error)
        except (GeoappError, OSError) as write_error:  # e.g. the very status lock that made the start fail is still busy
            exc.add_note(
                f"job {attempt.job_id!r} could not be marked failed ({write_error}); its status says 'starting' until "
                "the liveness checks find no worker"
            )
        finally:  # never leave this attempt's lock behind (release_lock absorbs its own errors)
            _forget_new_run(attempt)
            self._lock.release(attempt.job_id, pid=None, since=attempt.lock["since"])
            if attempt.worker is not None:
                self._lock.release(attempt.job_id, pid=attempt.worker[0], pid_start=attempt.worker[1])

    def _command(self, job_dir: Path, workers: int, resume: bool) -> list[str]:
        """The worker's command line: the worker module alone, or under torchrun with ``workers`` ranks."""
        worker = ["-m", "geoapp.jobs.worker", str(job_dir), *(["--resume"] if resume else [])]
        if workers == 1:
            return [sys.executable, *worker]
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={workers}", *worker]

    def _spawn(self, attempt: _Attempt, resume: bool) -> None:
        """Start the job's worker in a session of its own and record its pid (``attempt``, status and lock).

        The worker is told which lock its attempt took (:data:`~geoapp.jobs.lock.LOCK_SINCE_VARIABLE`): should
        this process stop before naming it in the lock, the worker still frees that lock, and no other, as it ends.
        """
        job_id = attempt.job_id
        job_dir = self.root / job_id
        clear_rank_files(job_dir)  # from an earlier attempt
        status = read_status(job_dir)
        workers = int(status.get("workers", 1))
        env = child_environment({"PYTHONUNBUFFERED": "1", LOCK_SINCE_VARIABLE: repr(attempt.lock["since"])})  # no PYTHONPATH
        if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))  # do not oversubscribe the cores
        command = self._command(job_dir, workers, resume)
        with open(job_dir / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(f"--- {'resume' if resume else 'start'} {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command[1:])}\n")
            log.flush()
            proc = spawn_session(command, cwd=REPO_ROOT, env=env, log=log)
        attempt.worker = (proc.pid, start_ticks(proc.pid))  # from here on a failure must stop it (_spawn_failed)
        attempt.written = write_status(
            job_dir, pid=proc.pid, pid_start=attempt.worker[1], attempts=int(status.get("attempts", 0)) + 1
        )["updated"]
        self._lock.record_worker(job_id, proc.pid, since=attempt.lock["since"])

    # ---- watching ---------------------------------------------------------------------------------
    def _job_dir(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise InputError(f"{job_id!r} is not a job id (they look like 20261122-021500-123456)")
        return self.root / job_id

    def spec(self, job_id: str) -> JobSpec:
        """The job's spec, read from its folder.

        Raises:
            InputError: no such job.
            DataFileError: the spec file is damaged.
        """
        path = self._job_dir(job_id) / SPEC_FILE
        if not path.exists():
            raise InputError(f"no training job {job_id!r} in {str(self.root)!r}")
        try:
            return JobSpec.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, RecursionError, TypeError, AttributeError) as exc:  # InputError is a ValueError
            raise DataFileError(f"job {job_id!r}: its spec {str(path)!r} is damaged ({exc}); start a new job") from exc

    def status(self, job_id: str) -> dict[str, Any]:
        """The job's status; a job whose worker is gone without a final state is marked failed here.

        A cancelled job still alive after the grace period is killed here (status reads drive it): the
        processes of the attempt judged, named by the status read here and the ranks recorded before it,
        never what the status names by the time of the kill (another process may have killed and marked
        the job, and a resume started new processes). The ranks are read before the status: a resume
        writes its status (no worker yet) before it clears the old ranks' files and its new ranks record
        themselves, so a status naming a worker never comes with ranks of a later attempt.
        Raises InputError for an unknown job id.
        """
        job_dir = self._job_dir(job_id)
        if not (job_dir / SPEC_FILE).exists():
            raise InputError(f"no training job {job_id!r} in {str(self.root)!r}")
        reap_children()
        ranks = rank_processes(job_dir)  # before the status (see above): never a later attempt's ranks
        status = read_status(job_dir)
        if not status and not (job_dir / STATUS_FILE).exists():
            if time.time() - (job_dir / SPEC_FILE).stat().st_mtime < STARTING_TIMEOUT_S:
                return status  # just created: the first status write comes next
            return broken_status(job_dir, f"its status file {str(job_dir / STATUS_FILE)!r} is missing; start a new job")
        state = status.get("state")
        if state not in ACTIVE_STATES:
            return status
        alive = process_alive(status.get("pid"), status.get("pid_start")) or bool(
            live_ranks(job_dir)
        )  # ranks outlive a launcher killed on its own: the job runs while any of them does
        if state == "starting" and status.get("pid") is None:
            if time.time() - float(status.get("updated") or 0) < STARTING_TIMEOUT_S:
                return status  # between the status write and the spawn
            return self._mark_dead(job_id, status, "the job never started: the process starting it stopped before the worker ran")
        if not alive:
            return self._mark_dead(job_id, status)
        asked = _cancel_age(job_dir)
        if asked is not None:
            if asked > self.grace_s and not _kill_records(_records(job_dir, status, ranks), timeout=5.0):
                return self._mark_dead(job_id, status)  # the attempt judged: marked only if the status still names it
            status = {**status, "state": "cancelling"}
        return status

    def _mark_dead(self, job_id: str, judged: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        """Record the job cancelled or failed, its worker gone, unless its status has changed since ``judged``.

        ``judged`` is the status read when the worker was judged dead. That judging happened outside the
        status's lock, so the status may have changed since: the worker wrote its own final state before
        it ended, or another process found the job dead as well, marked it and the job was resumed
        (``starting`` again, a new lock for the same job id, soon a new worker). The write (cancelled when
        a cancel was asked, else failed) therefore happens only while the status, under its lock, is still
        the attempt judged: active, naming the same worker (:data:`_WORKER_FIELDS`) and, for a start that
        never named one, not rewritten since (the same ``updated``). Otherwise what is there stands, and is
        returned. The lock is released only if it names the dead worker (pid and start ticks); a lock
        without one (a start that never spawned its worker, or a resume's) is left to the lock's own
        judging, which finds it stale once the job is no longer active.
        """
        job_dir = self.root / job_id
        tail = log_tail(job_dir, lines=3)
        cancelled = (job_dir / CANCEL_FILE).exists()
        if reason is None:
            reason = first_rank_error(job_dir)

        def still_judged(current: dict[str, Any]) -> bool:
            if current.get("state") not in ACTIVE_STATES:
                return False  # final already: the worker's own state, or another process marked it
            if any(current.get(key) != judged.get(key) for key in _WORKER_FIELDS):
                return False  # another attempt (a resume), or the worker named itself after all
            return judged.get("pid") is not None or current.get("updated") == judged.get("updated")

        status, written = write_status_if(
            job_dir,
            still_judged,
            state="cancelled" if cancelled else "failed",
            finished=round(time.time(), 3),
            eta_s=None,
            error=None
            if cancelled
            else (reason or "the worker process stopped without finishing (killed, or out of memory?)")
            + (f"; last log line: {tail[-1]}" if tail else ""),
        )
        pid, ticks = judged.get("pid"), judged.get("pid_start")
        if pid is not None and ticks is not None:
            self._lock.release(job_id, pid=pid, pid_start=ticks)
        return status if written else read_status(job_dir)

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job's status, newest first; a job that cannot be read is listed as broken with the reason.

        Raises:
            DataFileError: the jobs folder is a file.
        """
        self._check_root()
        if not self.root.is_dir():
            return []
        jobs = []
        for p in self.root.iterdir():
            if not (_JOB_ID.match(p.name) and p.is_dir()):
                continue  # not a job folder
            if not (p / SPEC_FILE).exists():
                if time.time() - p.stat().st_mtime >= STARTING_TIMEOUT_S:  # else: a job being created
                    jobs.append(broken_status(p, f"its spec file {str(p / SPEC_FILE)!r} is missing; start a new job"))
                continue
            try:
                status = self.status(p.name)
            except (GeoappError, OSError) as exc:  # one job that cannot be read never hides the others
                status = broken_status(p, str(exc))
            if status.get("kind") is None or status.get("name") is None:  # a status written by hand or by an old version
                kind, name = spec_kind_and_name(p)
                status = {"job_id": p.name, **status, "kind": status.get("kind") or kind or "?"}
                status["name"] = status.get("name") or name or "?"
            jobs.append(status)
        return sorted(jobs, key=lambda s: s.get("created") or 0, reverse=True)

    def active_job(self) -> str | None:
        """The id of the job holding the lock, if one runs.

        Raises:
            DataFileError: the jobs folder is a file.
        """
        holder = self.lock_holder()
        return None if holder is None else holder.get("job_id")

    def log(self, job_id: str, lines: int = 40) -> list[str]:
        """The last ``lines`` lines of the job's log (``lines=0``: none, an empty list).

        Raises:
            InputError: ``lines`` is not a whole number >= 0 (a negative number, a float, None, a bool),
                or there is no such job.
        """
        lines = as_int(lines, "lines", minimum=0)
        job_dir = self._job_dir(job_id)
        if not (job_dir / SPEC_FILE).exists():
            raise InputError(f"no training job {job_id!r} in {str(self.root)!r}")
        return log_tail(job_dir, lines)

    # ---- stopping ---------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask the job to stop at its next step (it keeps its last finished epoch to resume from)."""
        status = self.status(job_id)
        if status.get("state") == BROKEN:
            raise DataFileError(
                f"job {job_id!r} cannot be cancelled: {status.get('error')}. If its worker still runs, "
                f"stop it with `kill` (its pid is in {str(self.root / LOCK_FILE)!r} while it holds the lock)"
            )
        if status.get("state") not in ACTIVE_STATES:
            raise InputError(f"job {job_id!r} is {status.get('state')}; there is nothing to cancel")
        (self._job_dir(job_id) / CANCEL_FILE).write_text(str(time.time()))
        return self.status(job_id)

    def kill(self, job_id: str, timeout: float = 5.0) -> bool:
        """Kill the job's worker, its ranks, their process groups and every process below them with SIGKILL.

        torchrun starts each rank in a session of its own, so the ranks are reached by their pid files as
        well as below the worker. True once all of them are gone (within ``timeout`` seconds).

        Raises:
            InputError: ``job_id`` is not a job id, or ``timeout`` is not a finite number of seconds >= 0.
        """
        timeout = as_number(timeout, "timeout", "seconds", zero_ok=True)
        return not _kill_records(_records(self._job_dir(job_id)), timeout)

    def wait(self, job_id: str, timeout: float = 600.0, poll_s: float = 0.5) -> dict[str, Any]:
        """Block until the job is no longer active (for scripts and tests); returns its status.

        No longer active: its status is final (finished, cancelled, failed) and its worker no longer
        holds the workspace lock, so a next job can start at once.

        Raises:
            InputError: ``timeout`` or ``poll_s`` is not a positive number of seconds.
            TimeoutError: the job is still active after ``timeout`` seconds.
        """
        for name, value in (("timeout", timeout), ("poll_s", poll_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InputError(f"{name} must be a positive number of seconds, got {value!r}")
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.status(job_id)
            # Done when its status is final and the workspace lock is free of it: a worker alone writes the
            # final status, then releases the lock on its way out; under torchrun the lock is stale (and
            # removed by active_job) once torchrun and every rank have exited.
            if status.get("state") not in ACTIVE_STATES and self.active_job() != job_id:
                return status
            time.sleep(poll_s)
        raise TimeoutError(f"job {job_id!r} still {self.status(job_id).get('state')} after {timeout:.0f} s")


def _forget_new_run(attempt: _Attempt) -> None:
    """Remove a failed new job's owner file (and its run folder, then empty), so the same run can start again.

    Only a folder that holds nothing but this job's owner file: its worker, stopped, wrote nothing.
    """
    out = attempt.new_run
    if out is None:
        return
    try:
        only_owner = [p.name for p in out.iterdir()] == [OWNER_FILE]
        if only_owner and (out / OWNER_FILE).read_text(encoding="utf-8").strip() == attempt.job_id:
            (out / OWNER_FILE).unlink()
            out.rmdir()
    except OSError:  # gone already, or not ours to clear: a later start says what is there
        pass


OWNER_FILE = ".geoapp-job"
"""In a job's run folder: the id of the job whose run it holds (hidden: runs and ``ensure_writable`` pass it by)."""


def _records(
    job_dir: Path, status: dict[str, Any] | None = None, ranks: list[tuple[int, int | None]] | None = None
) -> list[tuple[Any, Any]]:
    """The job's processes as ``(pid, start ticks)``: the worker ``status`` names and the ``ranks``.

    Both default to what the job folder holds now; pass what was judged to kill that attempt alone.
    """
    status = read_status(job_dir) if status is None else status
    ranks = rank_processes(job_dir) if ranks is None else ranks
    return [(status.get("pid"), status.get("pid_start")), *ranks]


def _kill_records(records: list[tuple[Any, Any]], timeout: float) -> list[int]:
    """SIGKILL the processes ``records`` names as ``(pid, start ticks)`` and their trees.

    Returns the pids still running after ``timeout`` seconds: ``[]`` once all are gone.
    """
    roots = [proc for proc in (find_process(pid, ticks) for pid, ticks in records) if proc is not None]
    if not roots:
        return []
    return kill_trees(roots, timeout)


def _cancel_age(job_dir: Path) -> float | None:
    """Seconds since the job's cancel was asked (``cancel.request`` written), None when none is.

    A request removed meanwhile (a resume removes it) counts as none.
    """
    try:
        return time.time() - (job_dir / CANCEL_FILE).stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return None


def _check_owner(out: Path, job_id: str) -> None:
    """Refuse to resume ``job_id`` into ``out`` when the folder now holds another job's run.

    A job stopped before it wrote anything leaves its folder empty but for this file, so a later job of
    the same name is refused its folder; a folder from before these files existed passes.
    """
    try:
        owner = (out / OWNER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return
    if owner and owner != job_id:
        raise InputError(
            f"job {job_id!r} cannot be resumed: its run folder {str(out)!r} now holds job {owner!r}'s run, which "
            "resuming would overwrite; resume that job instead, or start this run again under another name"
        )


def _check_spec(spec: object) -> None:
    """Refuse a job spec that is not a :class:`~geoapp.jobs.spec.JobSpec` (None, a dict)."""
    if not isinstance(spec, JobSpec):
        raise InputError(f"spec must be a geoapp.jobs.spec.JobSpec (e.g. JobSpec('yield', 'my-run')), got {given(spec)}")
