"""The training worker process: ``python -m geoapp.jobs.worker JOB_DIR [--resume]``.

Started by :class:`geoapp.jobs.runner.JobRunner` (alone, or once per rank under torchrun). It reads
``spec.json``, trains, and keeps ``status.json`` current through a :class:`StatusMonitor` (rank 0
only). It stops at the next step once ``cancel.request`` appears in the job folder. Whatever happens,
it ends with the status ``finished``, ``cancelled`` or ``failed`` (with the error); a worker killed
outright cannot, and the runner notices its death instead.

A worker alone releases the workspace lock (:mod:`geoapp.jobs.lock`) on its way out, but only a lock
of its own attempt, the one naming it or the pid-less one its runner took (:func:`_release_own_lock`):
by then the lock may be a resume's of the same job id. Under torchrun no rank does: rank 0 writes the
final status while the other ranks (and torchrun itself) may still run, and no rank can know when the
last of them has exited. The lock then stays until every process of the job has ended; the lock judges
it stale from then on (the job no longer active, torchrun and every rank recorded in the job folder
gone), and the next look at it (a start, or :meth:`~geoapp.jobs.runner.JobRunner.active_job`, which
the Training page and the experiments queue ask) removes it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import psutil

from geoapp.data.args import as_bool, as_number, as_optional_path, as_path
from geoapp.errors import DataFileError, GeoappError, InputError
from geoapp.fileio import atomic_write_text
from geoapp.jobs.guard import GuardTimeoutError
from geoapp.jobs.lock import LOCK_SINCE_VARIABLE, release_lock
from geoapp.jobs.processes import start_ticks
from geoapp.jobs.ranks import rank_error_file, record_rank
from geoapp.jobs.spec import JobSpec
from geoapp.jobs.status import BROKEN, CANCEL_FILE, SPEC_FILE, read_status, write_status
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import has_last_checkpoint
from geoapp.training.monitor import TrainingCancelled, TrainingMonitor

__all__ = ["StatusMonitor", "run_job", "main"]

PROGRESS_WAIT_S = 2.0
"""Seconds a step's or an epoch's progress write waits for a busy status lock before it is skipped."""


class StatusMonitor(TrainingMonitor):
    """Writes a trainer's progress to ``status.json`` and asks it to stop once a cancel is requested.

    Steps are written at most every ``interval_s`` seconds; the cancel request is ``cancel.request``
    in the job folder.

    The ETA is the seconds per step so far (this attempt, validation included) times the steps left.

    Raises:
        InputError: ``job_dir`` is not a path, ``out`` not a path or None, or ``interval_s`` not a finite
            number of seconds >= 0.
    """

    def __init__(self, job_dir: str | Path, out: str | Path | None = None, interval_s: float = 0.5) -> None:
        self.job_dir = as_path(job_dir, "job_dir")
        self.out = as_optional_path(out, "out")
        self.interval_s = as_number(interval_s, "interval_s", "seconds", zero_ok=True)
        self._last_write = 0.0
        self._t0 = time.time()
        self._done_at_start = 0
        self._epochs = self._steps = 0

    def _eta(self, epoch: int, step: int) -> float | None:
        done = (epoch - 1) * self._steps + step
        ran = done - self._done_at_start
        if ran <= 0:
            return None
        return round((time.time() - self._t0) / ran * (self._epochs * self._steps - done), 1)

    def report(self, event: dict[str, Any]) -> None:
        """Record a trainer event (start, step, epoch, end) in the job's status and log."""
        kind = event["event"]
        now = time.time()
        if kind == "start":
            self._epochs, self._steps = int(event["epochs"]), int(event["steps"])
            self._t0, self._done_at_start = now, int(event["start_epoch"]) * self._steps
            write_status(
                self.job_dir,
                state="running",
                started=round(now, 3),
                device=event["device"],
                world_size=event["world_size"],
                epochs=self._epochs,
                steps=self._steps,
                epoch=int(event["start_epoch"]) + 1,
                step=0,
            )
            print(
                f"training on {event['device']} ({event['world_size']} worker(s)), {self._epochs} epochs of {self._steps} steps"
                + (f", resuming after epoch {event['start_epoch']}" if event["start_epoch"] else ""),
                flush=True,
            )
        elif kind == "step":
            if now - self._last_write >= self.interval_s or event["step"] == event["steps"]:
                self._last_write = now
                self._progress(
                    epoch=event["epoch"],
                    step=event["step"],
                    loss=event["loss"],
                    eta_s=self._eta(event["epoch"], event["step"]),
                )
        elif kind == "epoch":
            record = {k: v for k, v in event.items() if k != "event"}
            best = self.out / "best" if self.out is not None and (self.out / "best" / "card.json").exists() else None
            self._progress(
                metrics=record,
                epoch=record["epoch"],
                eta_s=self._eta(record["epoch"], self._steps),
                checkpoint=None if best is None else str(best),
            )
            print(
                "epoch "
                + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "time"),
                flush=True,
            )
        elif kind == "end":
            write_status(self.job_dir, checkpoint=event["checkpoint"], stopped_early=event["stopped_early"])

    def _progress(self, **updates: Any) -> None:
        """A progress write (a step's or an epoch's), skipped when the job's status lock stays busy.

        Training must not stop because another process (a stopped runner, a hung disk) holds the job's
        ``status.lock`` (:class:`~geoapp.jobs.guard.GuardTimeoutError` after :data:`PROGRESS_WAIT_S`):
        the next progress write carries the same fields, newer. The start and end writes still wait
        the guard's full timeout, as the job's state depends on them.
        """
        try:
            write_status(self.job_dir, guard_timeout_s=PROGRESS_WAIT_S, **updates)
        except GuardTimeoutError as exc:
            print(f"progress not recorded (the status is busy): {exc}", flush=True)

    def stop_requested(self) -> bool:
        """True once ``cancel.request`` exists in the job folder."""
        return (self.job_dir / CANCEL_FILE).exists()


def _record_own_pid(job_dir: Path) -> None:
    """Write the process the runner watches (this worker, or torchrun's launcher above rank 0).

    Called when the process that started the job could not write it (it stopped between spawning the
    worker and writing its pid), so the job is not taken for dead while it trains.
    """
    pid = os.getpid()
    if "TORCHELASTIC_RUN_ID" in os.environ and _is_torchrun(os.getppid()):
        pid = os.getppid()  # the launcher above the ranks; else (it died: init or a subreaper adopted us) ourselves
    write_status(job_dir, pid=pid, pid_start=start_ticks(pid))


def _is_torchrun(pid: int) -> bool:
    """Whether ``pid`` is a torchrun launcher (``torch.distributed.run``), never init or a subreaper."""
    if pid <= 1:
        return False
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
    return "torch.distributed.run" in cmdline or "torchrun" in cmdline


def _release_own_lock(job_dir: Path) -> None:
    """Release the workspace lock if it is this worker's own; any other lock of its job id stays.

    Its own are two: the lock naming it (its pid and start ticks: the runner named it once it was
    spawned), and the pid-less lock the runner took for this attempt, told by its ``since``, which the
    runner passed in :data:`~geoapp.jobs.lock.LOCK_SINCE_VARIABLE`. The second is there when the process
    that started this worker stopped before naming it: such a lock is a start in progress for
    :data:`~geoapp.jobs.status.STARTING_TIMEOUT_S` seconds, then held only while the job is active, so
    once this worker has written its final state another process may judge it stale, remove it and
    resume the job, taking a new lock of the same job id. Releasing by the job id alone would then
    delete the resume's lock while its worker starts.

    Why these two and nothing else: no other process has this pid and start time while this worker runs,
    so a lock naming them is its own. A pid-less lock is told by ``since`` alone, and only the runner that
    took it knows it for sure: a status or spec is no proof (a resume rewrites the status, possibly before
    a slow worker reads it), and comparing ``since`` with this process's start time mixes two clocks. A
    later start's lock has a later ``since``: it can only be taken once this one is gone.
    A worker started without the variable (by hand, or by an older runner) frees only a lock naming it;
    whatever lock stays is stale once the job's processes are gone, and the next look at it removes it.
    """
    root, job_id, pid = job_dir.parent, job_dir.name, os.getpid()
    release_lock(root, job_id, pid=pid, pid_start=start_ticks(pid))
    since = _attempt_lock_since()
    if since is not None:
        release_lock(root, job_id, pid=None, since=since)


def _attempt_lock_since() -> float | None:
    """The ``since`` of the lock this worker's runner took for its attempt (None when not given, or not a number)."""
    try:
        since = float(os.environ.get(LOCK_SINCE_VARIABLE, ""))
    except ValueError:
        return None
    return since if math.isfinite(since) else None


def run_job(job_dir: str | Path, resume: bool = False) -> int:
    """Train the job in ``job_dir``; returns the process exit status (0 finished or cancelled, 1 failed).

    A job whose status file cannot be used (:data:`~geoapp.jobs.status.BROKEN`) fails with the reason.

    Raises:
        InputError: ``job_dir`` is not a path, or ``resume`` not a bool (before anything is recorded).
    """
    job_dir = as_path(job_dir, "job_dir")
    resume = as_bool(resume, "resume")
    rank = int(os.environ.get("RANK", "0"))
    main_rank = rank == 0
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ
    status = read_status(job_dir)
    if under_torchrun:  # a torchrun rank: let the runner watch and kill it directly (and the lock wait for it)
        record_rank(job_dir, rank)
    try:
        if main_rank and status.get("pid") is None:
            _record_own_pid(job_dir)
        spec = JobSpec.from_dict(json.loads((job_dir / SPEC_FILE).read_text(encoding="utf-8")))
        if status.get("state") == BROKEN:
            raise DataFileError(str(status.get("error")))
        if not status.get("out"):
            raise InputError(
                f"{str(job_dir / 'status.json')!r} does not name the run folder ('out'): the job folder is damaged; "
                "start a new job"
            )
        out = spec.check_run_folder(status["out"], checkpoint_dir())
        monitor = StatusMonitor(job_dir, out) if main_rank else TrainingMonitor()
        cfg = spec.trainer_config()
        # The run folder is the job's own (the runner made it), so a run may replace what an earlier
        # attempt left there (force); a resume before the first last/ was written starts over.
        resume = resume and has_last_checkpoint(out)
        if spec.kind == "yield":
            from geoapp.data.dataset import default_dataset_path, load_dataset
            from geoapp.training.yield_trainer import train_yield

            best = train_yield(
                cfg,
                load_dataset(spec.dataset or default_dataset_path("demo")),
                out,
                resume=resume,
                force=True,
                progress=False,
                monitor=monitor,
            )
        else:
            from geoapp.training.location_trainer import train_location

            best = train_location(cfg, out, resume=resume, force=True, progress=False, monitor=monitor)
        if main_rank:
            state = "finished" if (best / "card.json").exists() else "failed"
            write_status(
                job_dir,
                state=state,
                finished=round(time.time(), 3),
                eta_s=0.0,
                checkpoint=str(best) if state == "finished" else None,
                error=None if state == "finished" else "training ended without a best checkpoint",
            )
            print(f"{state}: best checkpoint {best}", flush=True)
        return 0
    except TrainingCancelled as exc:
        if main_rank:
            write_status(job_dir, state="cancelled", finished=round(time.time(), 3), eta_s=None, error=None)
            print(f"cancelled: {exc}", flush=True)
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the status file
        if isinstance(exc, GeoappError):  # an expected error: its one line says what to do
            print(f"error: {exc}", flush=True)
        else:
            traceback.print_exc()
        if main_rank:
            write_status(
                job_dir, state="failed", finished=round(time.time(), 3), eta_s=None, error=f"{type(exc).__name__}: {exc}"
            )
        else:  # torchrun will stop rank 0 before it can report this: leave it where the runner looks
            atomic_write_text(rank_error_file(job_dir, rank), f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        if main_rank and not under_torchrun:  # a rank leaves the lock to the judging of its job's processes (module docstring)
            _release_own_lock(job_dir)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process."""
    parser = argparse.ArgumentParser(prog="python -m geoapp.jobs.worker", description=__doc__.splitlines()[0])
    parser.add_argument("job_dir", help="the job's folder (spec.json, status.json)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's last/ checkpoint")
    args = parser.parse_args(argv)
    return run_job(args.job_dir, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
