"""Missing runs as training jobs (:mod:`geoapp.jobs`), one after another, and their results into the store.

The jobs workspace trains one job at a time, so the queue is a file,
``<data dir>/experiments/<dataset name>/queue.json``, of runs waiting for their job. :func:`advance`
moves it on: a finished job's checkpoint is scored on the run's test year and appended to the results
store, a failed or cancelled job is recorded as failed, and when no job is running the next queued run
starts as a job (device auto: the GPU when there is one). The Experiments page calls it while it is
open, and ``python -m geoapp experiments collect [--follow]`` from a shell. A job trains into
``<checkpoint dir>/user/yield/exp-<run name>``, where the app's model selectors find it too.

The queue and command-line runners (``experiments run``) keep out of each other's way: a runner skips
a run the queue started as a job (:func:`queued_as_job`), and the queue passes over a run a runner
trains now and drops one a runner has finished.
"""

from __future__ import annotations

import fcntl
import json
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geoapp.errors import DataFileError, GeoappError
from geoapp.experiments.claim import claim_run
from geoapp.experiments.plan import RunSpec
from geoapp.experiments.store import FAILED, OK, ResultStore, StoreWarning, make_record, record_key, runs_root
from geoapp.fileio import atomic_write_text
from geoapp.jobs.guard import GuardTimeoutError
from geoapp.jobs.status import ACTIVE_STATES

__all__ = ["queue_path", "job_name", "read_queue", "queue_runs", "queued_as_job", "advance"]

_LOCK = "queue.lock"
"""Beside the queue file: held while the queue is read, changed and written (:func:`_locked`)."""


@contextmanager
def _locked(dataset_name: str, wait: bool = True) -> Iterator[bool]:
    """Hold the dataset's queue for the ``with`` block; yields False (without it) when ``wait`` is False and it is busy.

    The Experiments page moves the queue on at every render and its keeper every few seconds; each reads
    the queue, scores a finished job (seconds) and writes the queue back. Unlocked, two of them at once
    recorded a result twice and lost a started job's id (its result never collected).
    """
    path = queue_path(dataset_name).with_name(_LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True  # released when the file closes


def queue_path(dataset_name: str) -> Path:
    """``<data dir>/experiments/<dataset name>/queue.json``."""
    from geoapp.paths import data_dir

    return data_dir() / "experiments" / dataset_name / "queue.json"


def job_name(run: RunSpec) -> str:
    """The job's (and its run folder's) name: ``exp-<run name>``."""
    return f"exp-{run.name}"[:64]


def read_queue(dataset_name: str) -> list[dict[str, Any]]:
    """The queued entries (``run`` identity, ``name``, ``plan``, ``job_id`` once started), oldest first.

    Raises:
        DataFileError: the queue file is damaged (it names the file and what to do).
    """
    path = queue_path(dataset_name)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
        for e in entries:
            RunSpec.from_identity(e["run"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataFileError(
            f"the experiments queue {str(path)!r} is damaged ({exc}); remove it and queue the runs again"
        ) from exc
    return entries


def _write_queue(dataset_name: str, entries: list[dict[str, Any]]) -> None:
    path = queue_path(dataset_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"entries": entries}, indent=1))


def _job_spec(run: RunSpec, ds: Any):
    from geoapp.data.dataset import default_dataset_path
    from geoapp.jobs.spec import JobSpec

    demo = Path(ds.root).resolve() == default_dataset_path("demo").resolve()
    return JobSpec(kind="yield", name=job_name(run), config=run.train_config(), dataset=None if demo else str(ds.root))


def queue_runs(runs: Sequence[RunSpec], ds: Any, plan: str) -> tuple[list[str], list[str]]:
    """Add ``runs`` to the dataset's queue (those already queued are left as they are).

    Returns:
        (queued run names, refused runs as ``"name: reason"``): a run a job cannot train (its
        configuration refused by the job spec) is refused, not queued.
    """
    with _locked(ds.name):
        return _queue_runs(runs, ds, plan)


def _queue_runs(runs: Sequence[RunSpec], ds: Any, plan: str) -> tuple[list[str], list[str]]:
    entries = read_queue(ds.name)
    held = {json.dumps(e["run"], sort_keys=True) for e in entries}
    queued, refused = [], []
    for run in runs:
        if json.dumps(run.identity(), sort_keys=True) in held:
            continue
        try:
            _job_spec(run, ds)
        except GeoappError as exc:
            refused.append(f"{run.name}: {exc}")
            continue
        entries.append({"run": run.identity(), "name": run.name, "plan": plan, "job_id": None})
        queued.append(run.name)
    _write_queue(ds.name, entries)
    return queued, refused


def queued_as_job(dataset_name: str, run: RunSpec, jobs: Any = None) -> bool:
    """True when the queue started ``run`` as a training job that is still starting or running.

    A job that has ended counts as none (a failed one leaves the run to be trained; a finished one's
    result arrives when the queue is next moved on). A damaged queue file counts as no queue here (the
    Experiments page and ``collect`` report it). ``jobs``: the job runner (default
    :class:`~geoapp.jobs.runner.JobRunner`).
    """
    try:
        entries = read_queue(dataset_name)
    except DataFileError:
        return False
    key = json.dumps(run.identity(), sort_keys=True)
    started = [e["job_id"] for e in entries if e.get("job_id") is not None and json.dumps(e["run"], sort_keys=True) == key]
    if not started:
        return False
    if jobs is None:
        from geoapp.jobs.runner import JobRunner

        jobs = JobRunner()
    for job_id in started:
        try:
            if jobs.status(job_id).get("state") in ACTIVE_STATES:
                return True
        except GuardTimeoutError:  # its status is busy (a stalled process holds its lock): assume it still trains
            return True
        except GeoappError:  # its job folder is gone: no job trains it
            continue
    return False


def _drop_finished(entries: list[dict[str, Any]], store: ResultStore) -> list[str]:
    """Remove from ``entries`` the waiting runs with an ``ok`` result (a command-line runner's); returns their names.

    A store that cannot be read leaves the queue as it is (collecting into it reports the problem).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StoreWarning)  # damaged lines are reported where the store is shown
            done = {record_key(rec) for rec in store.read() if rec["status"] == OK}
    except DataFileError:
        return []
    dropped = [e for e in entries if e.get("job_id") is None and RunSpec.from_identity(e["run"]).key() in done]
    for entry in dropped:
        entries.remove(entry)
    return [e["name"] for e in dropped]


def _score(run: RunSpec, best: Path, ds: Any) -> dict[str, Any]:
    from geoapp.experiments.runner import score_run
    from geoapp.training.checkpoint import read_card

    return score_run(best, ds, run.test_year) | {"config": read_card(best).get("train_config")}


def _workspace_free(jobs: Any) -> bool:
    """Whether no job holds the jobs folder; a lock that stays busy (a stalled process) counts as held, for now."""
    try:
        return jobs.active_job() is None
    except GuardTimeoutError:
        return False


def advance(ds: Any, store: ResultStore | None = None, jobs: Any = None) -> dict[str, Any]:
    """Collect the queue's finished jobs into the store and start the next queued run when no job runs.

    A queued run that a command-line runner (``experiments run``) finished meanwhile leaves the queue
    (``elsewhere``); one such a runner trains now is passed over until it has a result.

    Returns:
        ``collected`` and ``failed`` (run names recorded now), ``elsewhere`` (runs dropped: finished
        by a runner), ``started`` (the run started now, or None), ``waiting`` (entries left),
        ``running`` (the queue's job that is running, or None).

    Raises:
        DataFileError: the queue or the store is damaged, or the store holds another dataset's results.
    """
    with _locked(ds.name, wait=False) as held:
        if not held:  # another process is moving the queue on now: report it as it stands
            entries = read_queue(ds.name)
            running = next((e["name"] for e in entries if e.get("job_id") is not None), None)
            waiting = len([e for e in entries if e.get("job_id") is None])
            return {"collected": [], "failed": [], "elsewhere": [], "started": None, "waiting": waiting, "running": running}
        return _advance(ds, store, jobs)


def _advance(ds: Any, store: ResultStore | None, jobs: Any) -> dict[str, Any]:
    """:func:`advance`, with the queue held."""
    from geoapp.jobs.runner import JobBusyError, JobRunner

    store = store if store is not None else ResultStore.for_dataset(ds)
    jobs = jobs if jobs is not None else JobRunner()
    info = {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": ds.simulated}
    entries = read_queue(ds.name)
    collected, failed, keep, running = [], [], [], None
    for entry in entries:
        run = RunSpec.from_identity(entry["run"])
        if entry.get("job_id") is None:
            keep.append(entry)
            continue
        try:
            status = jobs.status(entry["job_id"])
        except GuardTimeoutError:  # its status is busy for now (a stalled process holds its lock): ask again later
            keep.append(entry)
            continue
        except GeoappError as exc:  # its job folder is gone (deleted, or another jobs folder): no result to collect
            status = {"state": "lost", "error": str(exc)}
        state = status.get("state")
        if state in ACTIVE_STATES:  # a job being cancelled is still running: its end is collected later
            keep.append(entry)
            running = run.name
            continue
        seconds = (status.get("finished") or time.time()) - (status.get("created") or time.time())
        if state == "finished" and status.get("checkpoint"):
            try:
                scores = _score(run, Path(status["checkpoint"]), ds)
                config = scores.pop("config", None)  # the record's config, not one of its metrics
                store.append(
                    make_record(
                        run, dataset=info, status=OK, plan=entry.get("plan"), seconds=seconds,
                        metrics=scores, checkpoint=status["checkpoint"], config=config,
                    )
                )  # fmt: skip
                collected.append(run.name)
                continue
            except GeoappError as exc:
                error = f"{type(exc).__name__}: {exc}"
        else:
            error = f"job {entry['job_id']} {state}: {status.get('error')}"
        store.append(make_record(run, dataset=info, status=FAILED, plan=entry.get("plan"), seconds=seconds, error=error))
        failed.append(run.name)
    elsewhere = _drop_finished(keep, store)
    started = None
    if running is None and _workspace_free(jobs):
        for entry in [e for e in keep if e.get("job_id") is None]:
            # Claimed while it starts, until the queue file names its job: a runner claiming the run meanwhile
            # skips it, and one holding it now makes the queue pass it over.
            with claim_run(runs_root(ds.name), entry["name"]) as claim:
                if not claim.held:
                    continue
                run = RunSpec.from_identity(entry["run"])
                try:
                    entry["job_id"] = jobs.start(_job_spec(run, ds))
                    started = running = entry["name"]
                except (JobBusyError, GuardTimeoutError):
                    pass  # another job took the workspace meanwhile, or its lock is busy: the next call tries again
                except GeoappError as exc:  # e.g. its run folder exists from an earlier attempt
                    error = f"could not start: {exc}"
                    store.append(make_record(run, dataset=info, status=FAILED, plan=entry.get("plan"), error=error))
                    failed.append(run.name)
                    keep.remove(entry)
                _write_queue(ds.name, keep)
            break
    _write_queue(ds.name, keep)
    return {
        "collected": collected,
        "failed": failed,
        "elsewhere": elsewhere,
        "started": started,
        "waiting": len([e for e in keep if e.get("job_id") is None]),
        "running": running,
    }
