"""How a worker lets go of the workspace lock: a worker alone releases it as it ends, if the lock is its own
(naming it, or the pid-less lock its runner took), never a resume's lock of the same job; rank 0 of a torchrun
job does not (other ranks and torchrun may still run), and the lock is freed once all of them have exited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from geoapp.jobs import worker as worker_module
from geoapp.jobs.lock import LOCK_FILE, LOCK_SINCE_VARIABLE
from geoapp.jobs.processes import start_ticks
from geoapp.jobs.ranks import rank_pid_file
from geoapp.jobs.runner import JobRunner
from geoapp.jobs.status import STARTING_TIMEOUT_S, load_status, write_status
from geoapp.jobs.worker import run_job

JOB = "20261122-000000-000001"


@pytest.fixture()
def job(tmp_path, monkeypatch):
    """A job whose status names no run folder: its worker fails at once, before anything trains."""
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    for var in ("TORCHELASTIC_RUN_ID", "RANK", LOCK_SINCE_VARIABLE):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "jobs" / JOB
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"kind": "yield", "name": "run", "config": {}}))
    return folder


@pytest.fixture()
def sleeper():
    """Start a process that sleeps (a stand-in for torchrun or a rank); every one left is killed after the test."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def _take_lock(runner: JobRunner, pid: int) -> None:
    """What a start does: the lock taken for the job and its worker named (status and lock)."""
    runner._lock.acquire(JOB)
    write_status(runner.root / JOB, job_id=JOB, kind="yield", name="run", state="starting", pid=pid, pid_start=start_ticks(pid))
    runner._lock.record_worker(JOB, pid)


def test_a_worker_alone_releases_the_lock_as_it_ends(job, capsys):
    runner = JobRunner(job.parent)
    _take_lock(runner, os.getpid())  # the worker is this process
    assert run_job(job) == 1
    assert "does not name the run folder" in capsys.readouterr().out
    assert load_status(job)["state"] == "failed" and not (runner.root / LOCK_FILE).exists()


@pytest.mark.parametrize("lock", ["its attempt's", "a resume's", "its attempt's, not told"])
def test_a_worker_never_named_in_the_lock_frees_its_attempts_lock_and_no_other(job, monkeypatch, lock):
    """The process starting the job stopped before naming the worker in the lock, long ago: the lock has no pid
    and is held only while the job is active. The worker (this process, which named itself in the status) ends;
    once its final state is written, another process may find that lock stale, remove it and resume the job,
    taking a new lock of the same job id. The worker frees the lock its runner took (its ``since`` told in
    the environment), never the resume's; not told which, it frees none, and the next look removes it."""
    runner = JobRunner(job.parent)
    since = round(time.time() - STARTING_TIMEOUT_S - 1, 3)
    (runner.root / LOCK_FILE).write_text(json.dumps({"job_id": JOB, "pid": None, "since": since}))
    me = {"pid": os.getpid(), "pid_start": start_ticks(os.getpid())}
    write_status(job, job_id=JOB, kind="yield", name="run", state="running", **me)
    if lock != "its attempt's, not told":
        monkeypatch.setenv(LOCK_SINCE_VARIABLE, repr(since))
    write, resumed = worker_module.write_status, []

    def final_state_then_resumed(job_dir, **updates):
        written = write(job_dir, **updates)
        if updates.get("state") == "failed" and lock == "a resume's":  # between the final state and the release
            assert runner.active_job() is None  # the worker's lock: stale now, removed
            resumed.append(runner._lock.acquire(JOB))
        return written

    monkeypatch.setattr(worker_module, "write_status", final_state_then_resumed)
    assert run_job(job) == 1
    assert load_status(job)["state"] == "failed"
    if lock == "a resume's":
        assert json.loads((runner.root / LOCK_FILE).read_text()) == resumed[0]  # the resume's lock stands
    elif lock == "its attempt's":
        assert not (runner.root / LOCK_FILE).exists()
    else:
        assert json.loads((runner.root / LOCK_FILE).read_text())["since"] == since
        assert runner.active_job() is None and not (runner.root / LOCK_FILE).exists()  # stale: removed


def test_rank_0_of_a_torchrun_job_leaves_the_lock_held_until_every_process_has_exited(job, sleeper, monkeypatch):
    runner = JobRunner(job.parent)
    launcher, rank_1 = sleeper(), sleeper()  # torchrun and the job's other rank
    _take_lock(runner, launcher.pid)
    rank_pid_file(job, 1).write_text(f"{rank_1.pid} {start_ticks(rank_1.pid)}\n")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test")
    monkeypatch.setenv("RANK", "0")
    assert run_job(job) == 1  # rank 0 (this process) writes the final status
    assert load_status(job)["state"] == "failed"
    assert runner.active_job() == JOB  # rank 0 itself, rank 1 and torchrun still run
    rank_pid_file(job, 0).write_text("999999 1\n")  # rank 0 has exited
    assert runner.active_job() == JOB
    rank_1.kill()
    rank_1.wait()
    assert runner.active_job() == JOB  # torchrun still runs
    assert json.loads((runner.root / LOCK_FILE).read_text())["job_id"] == JOB
    launcher.kill()
    launcher.wait()
    assert runner.active_job() is None and not (runner.root / LOCK_FILE).exists()  # the last process is gone
    assert runner.status(JOB)["state"] == "failed"


def test_a_busy_status_lock_skips_a_progress_write_and_training_goes_on(tmp_path, guard_holder, monkeypatch, capsys):
    from geoapp.jobs.guard import GuardTimeoutError
    from geoapp.jobs.status import STATUS_LOCK_FILE
    from geoapp.jobs.worker import StatusMonitor

    monkeypatch.setattr(worker_module, "PROGRESS_WAIT_S", 0.0)  # give up at once: the holder never lets go here
    job = tmp_path / "job"
    write_status(job, job_id="job", state="starting")
    monitor = StatusMonitor(job, interval_s=0.0)
    monitor.report({"event": "start", "epochs": 2, "steps": 3, "start_epoch": 0, "device": "cpu", "world_size": 1})
    holder = guard_holder(job / STATUS_LOCK_FILE)
    monitor.report({"event": "step", "epoch": 1, "step": 1, "steps": 3, "loss": 0.5})  # skipped, not raised
    monitor.report({"event": "epoch", "epoch": 1, "train_loss": 0.5})
    assert "progress not recorded (the status is busy)" in capsys.readouterr().out
    with pytest.raises(GuardTimeoutError):  # the end's write is the job's state: it still waits, then raises
        write_status(job, guard_timeout_s=0.0, state="finished")
    holder.let_go()
    monitor.report({"event": "step", "epoch": 2, "step": 2, "steps": 3, "loss": 0.25})
    status = load_status(job)
    assert status["state"] == "running" and (status["epoch"], status["step"], status["loss"]) == (2, 2, 0.25)
