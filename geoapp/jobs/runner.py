"""Start, watch, cancel and resume training jobs as separate processes (no Streamlit here).

A job lives in ``<jobs dir>/<job id>/`` (:func:`geoapp.paths.jobs_dir`): ``spec.json`` (what to
train), ``status.json`` (:mod:`geoapp.jobs.status`), ``log.txt`` (the worker's output). The worker is
a new session (its own process group), so it outlives Streamlit reruns, browser sessions and the
app's process itself. Its checkpoints go to ``<checkpoint dir>/user/<kind>/<name>/`` (``best/``,
``last/``, ``metrics.jsonl``), where every model selector of the app finds them.

One job at a time per workspace: ``lock.json`` names the job holding it and its process; a second
start is refused with a message naming the running job. A lock whose process is gone (killed,
crashed, machine restarted) is stale and taken over.

Cancel asks the worker to stop at its next step (``cancel.request``); a worker still alive
``grace_s`` seconds later is killed with its whole process group (torchrun and all ranks).
A job whose worker died without writing a final state is marked ``failed``; ``resume`` restarts it
from its last finished epoch.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from geoapp.errors import GeoappError, InputError
from geoapp.fileio import atomic_write_text
from geoapp.jobs.spec import JobSpec
from geoapp.jobs.status import ACTIVE_STATES, CANCEL_FILE, LOG_FILE, SPEC_FILE, log_tail, read_status, write_status
from geoapp.paths import REPO_ROOT, checkpoint_dir, jobs_dir

__all__ = ["JobRunner", "JobBusyError", "release_lock", "process_alive"]

LOCK_FILE = "lock.json"
STARTING_TIMEOUT_S = 60.0
"""A job still 'starting' without a worker after this long was orphaned by the process starting it."""
_JOB_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9]{6}$")
KIND_DIRS = {"yield": "yield", "location": "location"}


class JobBusyError(GeoappError):
    """A job is already running in this workspace (one at a time)."""


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def process_alive(pid: int | None, start_ticks: int | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, started at ``start_ticks``."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        except (OSError, IndexError):
            pass
        if start_ticks is not None and _start_ticks(int(pid)) != start_ticks:
            return False  # the pid was reused by another process
    return True


def rank_pid_file(job_dir: Path, rank: int) -> Path:
    """Where a torchrun rank writes "pid start_ticks" (ranks run in sessions of their own, so the
    launcher's death does not end them: the runner watches and kills them by these files)."""
    return Path(job_dir) / f"rank-{int(rank)}.pid"


def rank_error_file(job_dir: Path, rank: int) -> Path:
    """Where a rank other than 0 writes the exception that stopped it (rank 0 writes the status)."""
    return Path(job_dir) / f"error-rank-{int(rank)}.txt"


def _rank_processes(job_dir: Path) -> list[tuple[int, int | None]]:
    """(pid, start ticks) of every rank that recorded itself; unreadable files are skipped."""
    out = []
    for path in sorted(Path(job_dir).glob("rank-*.pid")):
        try:
            pid, ticks = path.read_text().split()
            out.append((int(pid), None if ticks == "-" else int(ticks)))
        except (OSError, ValueError):
            continue
    return out


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...), from ``/proc`` (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def release_lock(root: str | Path, job_id: str) -> None:
    """Remove the workspace lock if ``job_id`` holds it (called by the worker as it ends)."""
    path = Path(root) / LOCK_FILE
    try:
        if json.loads(path.read_text()).get("job_id") == job_id:
            path.unlink()
    except (OSError, json.JSONDecodeError):
        pass


class JobRunner:
    """The training jobs of one workspace (``root``, default :func:`geoapp.paths.jobs_dir`).

    Args:
        root: folder of the job folders and the lock.
        grace_s: seconds a cancelled worker gets to stop by itself before it is killed.
    """

    _children: dict[int, subprocess.Popen] = {}  # reaped on status reads, so finished workers do not linger as zombies

    def __init__(self, root: str | Path | None = None, grace_s: float = 15.0) -> None:
        self.root = Path(root).absolute() if root is not None else jobs_dir()
        self.grace_s = float(grace_s)

    # ---- the lock ---------------------------------------------------------------------------------
    def _lock_path(self) -> Path:
        return self.root / LOCK_FILE

    def lock_holder(self) -> dict[str, Any] | None:
        """The lock's content if a live job holds it; a stale lock is removed and None returned."""
        path = self._lock_path()
        try:
            lock = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            lock = {"since": path.stat().st_mtime if path.exists() else 0}
        self._reap()
        job_id = lock.get("job_id")
        starting = lock.get("pid") is None and time.time() - float(lock.get("since") or 0) < 60
        if starting:
            return lock  # a start or resume in progress: its folder and status are being written, no worker yet
        if job_id and (self.root / str(job_id) / SPEC_FILE).exists() and self.status(job_id).get("state") in ACTIVE_STATES:
            return lock
        try:  # remove the stale lock only if it is still the one judged stale (or still unreadable)
            current = json.loads(path.read_text()).get("job_id")
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            current = None  # garbled (a crash while the disk was writing it) and older than a start
        if current == job_id:
            path.unlink(missing_ok=True)
        return None

    def _acquire(self, job_id: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".lock-{job_id}-{os.getpid()}"
        tmp.write_text(json.dumps({"job_id": job_id, "pid": None, "since": round(time.time(), 3)}))
        try:
            for _ in range(2):
                try:
                    os.link(tmp, self._lock_path())  # atomic: fails if a lock exists; never a half-written lock
                    return
                except FileExistsError:
                    holder = self.lock_holder()  # removes a stale lock
                    if holder is not None:
                        status = read_status(self.root / holder["job_id"]) if holder.get("job_id") else {}
                        raise JobBusyError(
                            f"job {holder.get('job_id', '?')!r} ({status.get('name', '?')}) is {status.get('state', 'starting')}; "
                            "one training job runs at a time: wait for it, or cancel it first"
                        ) from None
            raise JobBusyError("could not take the job lock (another start raced this one); try again")
        finally:
            tmp.unlink(missing_ok=True)

    # ---- starting ---------------------------------------------------------------------------------
    def run_folder(self, spec: JobSpec) -> Path:
        """Where the job's checkpoints go: ``<checkpoint dir>/user/<kind>/<name>``."""
        return checkpoint_dir() / "user" / KIND_DIRS[spec.kind] / spec.name

    def start(self, spec: JobSpec) -> str:
        """Validate, take the lock, and start ``spec`` in a new process; returns the job id.

        Raises:
            InputError: invalid spec, or a run of that name already exists (pick another name, or resume it).
            JobBusyError: another job is running.
            DataFileError: the checkpoint folder cannot be written.
        """
        from geoapp.training.checkpoint import ensure_writable

        out = self.run_folder(spec)
        if out.exists() and any(out.iterdir()):
            raise InputError(f"a run named {spec.name!r} already exists in {str(out)!r}; choose another name (or resume its job)")
        job_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid() % 1000:03d}{int(time.time() * 1000) % 1000:03d}"
        self._acquire(job_id)
        try:
            ensure_writable(out)
            job_dir = self.root / job_id
            job_dir.mkdir(parents=True)
            atomic_write_text(job_dir / SPEC_FILE, json.dumps(spec.to_dict(), indent=1))
            write_status(
                job_dir,
                job_id=job_id,
                kind=spec.kind,
                name=spec.name,
                state="starting",
                created=round(time.time(), 3),
                out=str(out),
                attempts=0,
                workers=spec.workers,
            )
            self._spawn(job_id, resume=False)
        except BaseException as exc:
            self._spawn_failed(job_id, exc)
            raise
        return job_id

    def resume(self, job_id: str) -> str:
        """Start a failed or cancelled job again from its last finished epoch; returns its id.

        Raises:
            InputError: no such job, or it is not failed/cancelled.
            JobBusyError: another job is running.
        """
        status = self.status(job_id)
        if status.get("state") not in ("failed", "cancelled"):
            raise InputError(f"job {job_id!r} is {status.get('state', 'unknown')}; only a failed or cancelled job can be resumed")
        self._acquire(job_id)
        try:
            self.kill(job_id)  # nothing of the previous attempt (e.g. a rank still tearing down) may run beside the new one
            (self.root / job_id / CANCEL_FILE).unlink(missing_ok=True)
            write_status(self.root / job_id, state="starting", error=None, finished=None, eta_s=None, pid=None, pid_start=None)
            self._spawn(job_id, resume=True)
        except BaseException as exc:
            self._spawn_failed(job_id, exc)
            raise
        return job_id

    def _spawn_failed(self, job_id: str, exc: BaseException) -> None:
        """Record a start that failed before the worker ran (so the job is not left 'starting')."""
        if (self.root / job_id / SPEC_FILE).exists():
            write_status(self.root / job_id, state="failed", finished=round(time.time(), 3), error=f"could not start: {exc}")
        release_lock(self.root, job_id)

    def _command(self, job_dir: Path, workers: int, resume: bool) -> list[str]:
        worker = ["-m", "geoapp.jobs.worker", str(job_dir), *(["--resume"] if resume else [])]
        if workers == 1:
            return [sys.executable, *worker]
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={workers}", *worker]

    def _spawn(self, job_id: str, resume: bool) -> None:
        job_dir = self.root / job_id
        for stale in [*job_dir.glob("rank-*.pid"), *job_dir.glob("error-rank-*.txt")]:  # from an earlier attempt
            stale.unlink(missing_ok=True)
        status = read_status(job_dir)
        workers = int(status.get("workers", 1))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
        for var in ("GEOAPP_DATA_DIR", "GEOAPP_CHECKPOINT_DIR", "GEOAPP_JOBS_DIR"):  # the worker runs from the repository
            if var in env:
                env[var] = str(Path(env[var]).absolute())
        if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))  # do not oversubscribe the cores
        with open(job_dir / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(
                f"--- {'resume' if resume else 'start'} {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(self._command(job_dir, workers, resume)[1:])}\n"
            )
            log.flush()
            proc = subprocess.Popen(
                self._command(job_dir, workers, resume),
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        JobRunner._children[proc.pid] = proc
        write_status(job_dir, pid=proc.pid, pid_start=_start_ticks(proc.pid), attempts=int(status.get("attempts", 0)) + 1)
        try:
            still_ours = json.loads(self._lock_path().read_text()).get("job_id") == job_id
        except (OSError, json.JSONDecodeError):
            still_ours = False
        if still_ours:  # never overwrite a lock another start has taken meanwhile
            lock = {"job_id": job_id, "pid": proc.pid, "since": round(time.time(), 3)}
            atomic_write_text(self._lock_path(), json.dumps(lock))

    # ---- watching ---------------------------------------------------------------------------------
    @classmethod
    def _reap(cls) -> None:
        for pid, proc in list(cls._children.items()):
            if proc.poll() is not None:
                cls._children.pop(pid, None)

    def _job_dir(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise InputError(f"{job_id!r} is not a job id (they look like 20261122-021500-123456)")
        return self.root / job_id

    def status(self, job_id: str) -> dict[str, Any]:
        """The job's status; a job whose worker is gone without a final state is marked failed here.

        A cancelled job still alive after the grace period is killed here (status reads drive it).
        Raises InputError for an unknown job id.
        """
        job_dir = self._job_dir(job_id)
        if not (job_dir / SPEC_FILE).exists():
            raise InputError(f"no training job {job_id!r} in {str(self.root)!r}")
        self._reap()
        status = read_status(job_dir)
        state = status.get("state")
        if state not in ACTIVE_STATES:
            return status
        alive = process_alive(status.get("pid"), status.get("pid_start")) or any(
            process_alive(pid, ticks) for pid, ticks in _rank_processes(job_dir)
        )  # ranks outlive a launcher killed on its own: the job runs while any of them does
        if state == "starting" and status.get("pid") is None:
            if time.time() - float(status.get("updated") or 0) < STARTING_TIMEOUT_S:
                return status  # between the status write and the spawn
            return self._mark_dead(job_id, "the job never started: the process starting it stopped before the worker ran")
        if not alive:
            return self._mark_dead(job_id)
        requested = job_dir / CANCEL_FILE
        if requested.exists():
            if time.time() - requested.stat().st_mtime > self.grace_s and self.kill(job_id):
                return self._mark_dead(job_id)
            status = {**status, "state": "cancelling"}
        return status

    def _mark_dead(self, job_id: str, reason: str | None = None) -> dict[str, Any]:
        """The worker is gone: keep its own final state, or record cancelled / failed; free the lock."""
        job_dir = self.root / job_id
        status = read_status(job_dir)  # the worker may have written its final state meanwhile
        if status.get("state") in ACTIVE_STATES:
            tail = log_tail(job_dir, lines=3)
            cancelled = (job_dir / CANCEL_FILE).exists()
            rank_errors = sorted(job_dir.glob("error-rank-*.txt"))
            if rank_errors and reason is None:
                try:
                    reason = f"{rank_errors[0].stem.removeprefix('error-')} failed: {rank_errors[0].read_text(encoding='utf-8').strip()[:500]}"
                except OSError:
                    pass
            status = write_status(
                job_dir,
                state="cancelled" if cancelled else "failed",
                finished=round(time.time(), 3),
                eta_s=None,
                error=None
                if cancelled
                else (reason or "the worker process stopped without finishing (killed, or out of memory?)")
                + (f"; last log line: {tail[-1]}" if tail else ""),
            )
        release_lock(self.root, job_id)
        return status

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every job's status, newest first."""
        if not self.root.is_dir():
            return []
        jobs = [self.status(p.name) for p in self.root.iterdir() if _JOB_ID.match(p.name) and (p / SPEC_FILE).exists()]
        return sorted(jobs, key=lambda s: s.get("created", 0), reverse=True)

    def active_job(self) -> str | None:
        """The id of the job holding the lock, if one runs."""
        holder = self.lock_holder()
        return None if holder is None else holder.get("job_id")

    def log(self, job_id: str, lines: int = 40) -> list[str]:
        """The last lines of the job's log."""
        return log_tail(self._job_dir(job_id), lines)

    # ---- stopping ---------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask the job to stop at its next step (it keeps its last finished epoch to resume from)."""
        status = self.status(job_id)
        if status.get("state") not in ACTIVE_STATES:
            raise InputError(f"job {job_id!r} is {status.get('state')}; there is nothing to cancel")
        (self._job_dir(job_id) / CANCEL_FILE).write_text(str(time.time()))
        return self.status(job_id)

    def kill(self, job_id: str, timeout: float = 5.0) -> bool:
        """Kill the job's worker, its process group and every process below it (torchrun starts each
        rank in a session of its own) with SIGKILL; True once all of them are gone (within ``timeout``).
        """
        job_dir = self._job_dir(job_id)
        status = read_status(job_dir)
        pid = status.get("pid")
        roots = [int(pid)] if pid and process_alive(pid, status.get("pid_start")) else []
        roots += [rank for rank, ticks in _rank_processes(job_dir) if process_alive(rank, ticks)]
        if not roots:
            return True
        victims = list(dict.fromkeys(v for root in roots for v in (root, *_descendants(root))))
        for victim in victims:
            for kill in (lambda v: os.killpg(v, signal.SIGKILL), lambda v: os.kill(v, signal.SIGKILL)):
                try:
                    kill(victim)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.time() + timeout
        while time.time() < deadline:
            self._reap()
            if not any(process_alive(v) for v in victims):
                return True
            time.sleep(0.05)
        return False

    def wait(self, job_id: str, timeout: float = 600.0, poll_s: float = 0.5) -> dict[str, Any]:
        """Block until the job is no longer active (for scripts and tests); returns its status."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.status(job_id)
            if status.get("state") not in ACTIVE_STATES:
                return status
            time.sleep(poll_s)
        raise TimeoutError(f"job {job_id!r} still {self.status(job_id).get('state')} after {timeout:.0f} s")
