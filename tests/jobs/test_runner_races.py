"""Races of the runner with other processes, forced deterministically (a hook runs the other process at the
exact point, no timing): a job judged dead is not marked failed, nor its lock freed, once a resume of it has
started; a cancelled job killed after its grace period is the attempt judged, never a resume started
meanwhile; a start that fails after its worker was spawned stops that worker before it reports the failure;
a resume is refused while processes of the previous attempt survive the kill; a worker whose lock was never
named frees that lock as it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from geoapp.errors import DataFileError
from geoapp.jobs import runner as runner_module
from geoapp.jobs.guard import GuardTimeoutError
from geoapp.jobs.lock import LOCK_FILE, JobBusyError
from geoapp.jobs.processes import find_process, kill_process_trees, process_alive, start_ticks
from geoapp.jobs.ranks import rank_pid_file
from geoapp.jobs.runner import JobRunner
from geoapp.jobs.spec import JobSpec
from geoapp.jobs.status import CANCEL_FILE, STARTING_TIMEOUT_S, STATUS_FILE, load_status, write_status

JOB = "20261122-000000-000001"
DEAD = {"pid": 999_999, "pid_start": 1}
"""The worker of the previous attempt: gone (no process has this pid and start time)."""

STAND_IN = [sys.executable, "-c", "import time; time.sleep(120)"]
"""A worker that trains for two minutes (killed by the tests long before)."""

_RESUME_ELSEWHERE = """
import os, sys
from geoapp.jobs.runner import JobRunner

root, job, how = sys.argv[1:4]
runner = JobRunner(root)
assert runner.status(job)["state"] == "failed", runner.status(job)  # judged dead here too: marked, lock freed
runner._command = lambda job_dir, workers, resume: [sys.executable, "-c", "import time; time.sleep(120)"]
if how == "midway":  # the resume's process stops between its status write and the spawn (lock without a pid)
    runner._spawn = lambda *args, **kwargs: os._exit(0)
runner.resume(job)
"""

_CANCEL_ELSEWHERE = """
import sys
from geoapp.jobs.runner import JobRunner

root, job = sys.argv[1:3]
runner = JobRunner(root, grace_s=0)
assert runner.status(job)["state"] == "cancelled", runner.status(job)  # killed here too: marked, lock freed
runner._command = lambda job_dir, workers, resume: [sys.executable, "-c", "import time; time.sleep(120)"]
runner.resume(job)
"""


def _read_lock(root: Path) -> dict:
    return json.loads((root / LOCK_FILE).read_text())


def _kill(pid: int | None, pid_start: int | None) -> None:
    """Kill a worker a test started: only the very process (pid and start ticks), never one that reused the pid."""
    if pid_start is None:
        return  # no start ticks: not a process this test started (e.g. DEAD's made-up pid)
    proc = find_process(pid, pid_start)
    if proc is not None:
        kill_process_trees([proc], 10.0)


@pytest.fixture()
def root(tmp_path, monkeypatch) -> Iterator[Path]:
    """An empty jobs folder; the workers its jobs name are killed after the test, whatever it left running."""
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root = tmp_path / "jobs"
    root.mkdir()
    yield root
    for status in root.glob(f"*/{STATUS_FILE}"):
        try:
            recorded = json.loads(status.read_text())
            _kill(recorded.get("pid"), recorded.get("pid_start"))
        except (OSError, ValueError):
            pass


@pytest.fixture()
def jobs(root) -> Path:
    """A jobs folder with the folder and spec of job :data:`JOB`."""
    (root / JOB).mkdir()
    (root / JOB / "spec.json").write_text(json.dumps({"kind": "yield", "name": "run", "config": {}}))
    return root


@pytest.fixture()
def sleeper() -> Iterator:
    """Start a stand-in process (a worker, torchrun or a rank); every one left is killed after the test."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        started.append(subprocess.Popen(STAND_IN))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def _common(tmp_path: Path) -> dict:
    """The status fields a start writes first (job :data:`JOB`, its run folder)."""
    out = tmp_path / "checkpoints" / "user" / "yield" / "run"
    return {"job_id": JOB, "kind": "yield", "name": "run", "out": str(out), "created": 1, "workers": 1}


def _named(proc: subprocess.Popen) -> dict:
    """The status fields naming ``proc`` as a job's worker."""
    return {"pid": proc.pid, "pid_start": start_ticks(proc.pid)}


def _record_rank(job_dir: Path, rank: int, proc: subprocess.Popen) -> None:
    """What rank ``rank`` writes as it starts, ``proc`` standing in for it."""
    rank_pid_file(job_dir, rank).write_text(f"{proc.pid} {start_ticks(proc.pid)}\n")


def _cancel_asked_long_ago(job_dir: Path) -> None:
    (job_dir / CANCEL_FILE).write_text("1")
    os.utime(job_dir / CANCEL_FILE, (time.time() - 100, time.time() - 100))


# ---- a job judged dead while another process marks it and resumes it ------------------------------
@pytest.mark.parametrize("judged", ["worker gone", "never started"])
@pytest.mark.parametrize("resume", ["midway", "spawned"])
def test_a_job_judged_dead_is_not_failed_nor_its_lock_freed_once_a_resume_has_started(
    jobs, tmp_path, monkeypatch, judged, resume
):
    """This process reads the job's status and judges its worker dead; before it writes 'failed', another
    process judges the same, marks the job failed, frees its lock and resumes it (a new lock for the same
    job id, the status 'starting' again, a new worker or none yet). The resume must stand."""
    out = tmp_path / "checkpoints" / "user" / "yield" / "run"
    common = {"job_id": JOB, "kind": "yield", "name": "run", "out": str(out), "created": 1, "workers": 1}
    if judged == "worker gone":
        write_status(jobs / JOB, **common, state="running", attempts=1, **DEAD)
        (jobs / LOCK_FILE).write_text(json.dumps({"job_id": JOB, **DEAD, "since": time.time()}))
    else:  # the process starting it stopped before the worker ran, long ago
        (jobs / JOB / STATUS_FILE).write_text(json.dumps({**common, "state": "starting", "attempts": 0, "updated": 1}))
        (jobs / LOCK_FILE).write_text(json.dumps({"job_id": JOB, "pid": None, "since": 1}))
    alive, other = runner_module.process_alive, []

    def judged_then_the_other_process_acts(pid, ticks=None):
        found = alive(pid, ticks)
        if not other:  # right after this process's judgment, before it acts on it
            other.append(
                subprocess.run(
                    [sys.executable, "-c", _RESUME_ELSEWHERE, str(jobs), JOB, resume],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            )
        return found

    monkeypatch.setattr(runner_module, "process_alive", judged_then_the_other_process_acts)
    seen = JobRunner(jobs).status(JOB)
    assert other and other[0].returncode == 0, other[0].stderr
    resumed = load_status(jobs / JOB)
    lock = _read_lock(jobs)  # the resume's lock is still there
    assert resumed["state"] == "starting" and resumed.get("error") is None and seen["state"] == "starting"
    assert lock["job_id"] == JOB and lock["pid"] == resumed.get("pid")
    if resume == "spawned":
        assert resumed["attempts"] == (2 if judged == "worker gone" else 1)
        assert process_alive(resumed["pid"], resumed["pid_start"]) and lock["pid_start"] == resumed["pid_start"]
    else:
        assert resumed.get("pid") is None and lock["since"] > 1  # the resume's own lock, not the orphaned one
    monkeypatch.setattr(runner_module, "process_alive", alive)
    assert JobRunner(jobs).active_job() == JOB  # held by the resume
    assert JobRunner(jobs).status(JOB)["state"] == "starting"


def test_a_dead_workers_lock_is_freed_but_a_lock_naming_another_worker_is_kept(jobs):
    """Without a race: the job judged dead is failed and the lock naming its worker freed at once; a lock of
    the same job that names another process (a later start) is left alone."""
    runner = JobRunner(jobs)
    write_status(jobs / JOB, job_id=JOB, state="running", **DEAD)
    (jobs / LOCK_FILE).write_text(json.dumps({"job_id": JOB, **DEAD, "since": time.time()}))
    status = runner.status(JOB)
    assert status["state"] == "failed" and "stopped without finishing" in status["error"]
    assert not (jobs / LOCK_FILE).exists()
    write_status(jobs / JOB, state="running")  # dead again; the lock now names a later start's worker
    later = {"job_id": JOB, "pid": DEAD["pid"], "pid_start": DEAD["pid_start"] + 1, "since": time.time()}
    (jobs / LOCK_FILE).write_text(json.dumps(later))
    assert runner.status(JOB)["state"] == "failed" and _read_lock(jobs) == later


# ---- a cancelled job killed after its grace period -------------------------------------------------
def test_a_cancel_past_its_grace_period_kills_the_attempt_judged_not_a_resume_started_meanwhile(
    jobs, tmp_path, monkeypatch, sleeper
):
    """This process judges the cancelled job's grace period over; before it kills, another process kills the
    job itself, marks it cancelled and resumes it (a new worker, soon a new rank recording itself). This
    process then kills the attempt it judged (gone already), never the resume's worker or rank."""
    worker, rank = sleeper(), sleeper()  # the attempt judged: its worker and a rank in a session of its own
    write_status(jobs / JOB, **_common(tmp_path), state="running", attempts=1, **_named(worker))
    _record_rank(jobs / JOB, 0, rank)
    (jobs / LOCK_FILE).write_text(json.dumps({"job_id": JOB, **_named(worker), "since": time.time()}))
    _cancel_asked_long_ago(jobs / JOB)
    age, other, resumes_rank = runner_module._cancel_age, [], []

    def judged_then_the_other_process_acts(job_dir):
        asked = age(job_dir)
        if not other:  # right after this process judged the grace period over, before it kills
            other.append(
                subprocess.run(
                    [sys.executable, "-c", _CANCEL_ELSEWHERE, str(jobs), JOB], capture_output=True, text=True, timeout=120
                )
            )
            resumes_rank.append(sleeper())
            _record_rank(jobs / JOB, 1, resumes_rank[0])  # the resume's rank records itself
        return asked

    monkeypatch.setattr(runner_module, "_cancel_age", judged_then_the_other_process_acts)
    seen = JobRunner(jobs, grace_s=10).status(JOB)
    assert other and other[0].returncode == 0, other[0].stderr
    assert worker.wait(timeout=60) == rank.wait(timeout=60) == -signal.SIGKILL  # killed (by the other process)
    resumed = load_status(jobs / JOB)
    assert resumed["state"] == "starting" and resumed["attempts"] == 2 and resumed["pid"] != worker.pid
    assert seen == resumed  # not marked cancelled: the status no longer names the attempt judged
    assert process_alive(resumed["pid"], resumed["pid_start"])  # the resume's worker runs on
    assert process_alive(resumes_rank[0].pid, start_ticks(resumes_rank[0].pid))  # and its rank
    lock = _read_lock(jobs)
    assert (lock["job_id"], lock["pid"], lock["pid_start"]) == (JOB, resumed["pid"], resumed["pid_start"])


def test_a_cancel_past_its_grace_period_kills_the_worker_and_the_ranks_it_recorded(jobs, tmp_path, sleeper):
    """Without a race: the worker and its rank (a session of its own, out of the worker's tree) are killed, the
    job marked cancelled and the lock naming the worker freed."""
    worker, rank = sleeper(), sleeper()
    write_status(jobs / JOB, **_common(tmp_path), state="running", attempts=1, **_named(worker))
    _record_rank(jobs / JOB, 0, rank)
    (jobs / LOCK_FILE).write_text(json.dumps({"job_id": JOB, **_named(worker), "since": time.time()}))
    _cancel_asked_long_ago(jobs / JOB)
    runner = JobRunner(jobs, grace_s=10)
    assert runner.status(JOB)["state"] == "cancelled"
    assert worker.wait(timeout=60) == rank.wait(timeout=60) == -signal.SIGKILL  # both killed
    assert not (jobs / LOCK_FILE).exists() and runner.active_job() is None


# ---- a resume while the previous attempt's processes survive ---------------------------------------
def test_a_resume_is_refused_while_processes_of_the_previous_attempt_survive_the_kill(jobs, tmp_path, monkeypatch, sleeper):
    """The cancelled job's worker and a rank of it still run and SIGKILL does not end them (stuck in the kernel):
    the resume is refused naming both, nothing is started, the status is left as it was and the lock freed."""
    worker, rank = sleeper(), sleeper()
    write_status(jobs / JOB, **_common(tmp_path), state="cancelled", attempts=1, **_named(worker))
    _record_rank(jobs / JOB, 0, rank)
    (jobs / JOB / CANCEL_FILE).write_text("1")
    before = load_status(jobs / JOB)
    runner = JobRunner(jobs)
    monkeypatch.setattr(runner, "_command", lambda job_dir, workers, resume: STAND_IN)
    spawned = _spawned(monkeypatch)
    monkeypatch.setattr(runner_module, "kill_trees", lambda roots, timeout=5.0: sorted(root.pid for root in roots))
    pids = ", ".join(map(str, sorted([worker.pid, rank.pid])))
    with pytest.raises(JobBusyError, match=rf"job '{JOB}' cannot be resumed: .* still run after being killed \(pid {pids}\)"):
        runner.resume(JOB)
    assert spawned == [] and load_status(jobs / JOB) == before and (jobs / JOB / CANCEL_FILE).exists()
    assert not (jobs / LOCK_FILE).exists() and runner.active_job() is None  # the resume's lock is freed
    assert worker.poll() is None and rank.poll() is None  # left as they were (this test's kill did nothing)


# ---- a start that fails once its worker runs -------------------------------------------------------
@pytest.fixture()
def runner(root, monkeypatch) -> JobRunner:
    """A runner whose workers are stand-ins that would run for two minutes."""
    runner = JobRunner(root)
    monkeypatch.setattr(runner, "_command", lambda job_dir, workers, resume: STAND_IN)
    return runner


def _spec(tiny_dataset_path) -> JobSpec:
    return JobSpec("yield", "run", {"model": "s-ha", "epochs": 1}, dataset=str(tiny_dataset_path))


def _spawned(monkeypatch) -> list:
    """Record every worker the runner spawns (as ``(pid, start ticks)``)."""
    spawned, spawn = [], runner_module.spawn_session

    def recording(*args, **kwargs):
        proc = spawn(*args, **kwargs)
        spawned.append((proc.pid, start_ticks(proc.pid)))
        return proc

    monkeypatch.setattr(runner_module, "spawn_session", recording)
    return spawned


@pytest.mark.parametrize("fails", ["the pid's status write", "naming the worker in the lock"])
def test_a_start_failing_after_its_worker_runs_kills_it_before_marking_the_job_failed(
    runner, tiny_dataset_path, monkeypatch, fails
):
    spawned, write = _spawned(monkeypatch), runner_module.write_status

    def failing_write(job_dir, **updates):
        if "pid" in updates and updates["pid"] is not None:
            raise GuardTimeoutError("status.lock held by another process (test)")
        return write(job_dir, **updates)

    def failing_record_worker(job_id, pid, since=None):
        raise GuardTimeoutError("lock.guard held by another process (test)")

    if fails == "the pid's status write":
        monkeypatch.setattr(runner_module, "write_status", failing_write)
    else:
        monkeypatch.setattr(runner._lock, "record_worker", failing_record_worker)
    with pytest.raises(GuardTimeoutError, match=r"held by another process \(test\)"):
        runner.start(_spec(tiny_dataset_path))
    [(pid, ticks)] = spawned
    try:
        assert not process_alive(pid, ticks)  # killed (with its process group) before the failure was recorded
        [status] = runner.list_jobs()
        assert status["state"] == "failed" and status["error"].startswith("could not start: ")
        assert runner.active_job() is None and not (runner.root / LOCK_FILE).exists()
        assert not Path(status["out"]).exists()  # its run folder held only its owner file: the run can start again
    finally:
        _kill(pid, ticks)


def test_a_started_worker_that_cannot_be_stopped_is_left_to_the_liveness_checks(runner, tiny_dataset_path, monkeypatch):
    """The start still fails (the caller learns why) but the job is not marked failed nor its lock freed while
    its worker runs: it stays 'starting' with the worker named, and is judged as any other running job."""
    spawned = _spawned(monkeypatch)

    def failing_record_worker(job_id, pid, since=None):
        raise GuardTimeoutError("lock.guard held by another process (test)")

    monkeypatch.setattr(runner._lock, "record_worker", failing_record_worker)
    monkeypatch.setattr(runner_module, "kill_trees", lambda roots, timeout=5.0: [root.pid for root in roots])
    with pytest.raises(GuardTimeoutError) as raised:
        runner.start(_spec(tiny_dataset_path))
    [(pid, ticks)] = spawned
    try:
        assert any(f"its worker (pid {pid}) could not be stopped" in note for note in raised.value.__notes__)
        assert process_alive(pid, ticks)
        [status] = runner.list_jobs()
        assert status["state"] == "starting" and status["pid"] == pid and status.get("error") is None
        assert runner.active_job() == status["job_id"]  # its lock is held while it runs
    finally:
        _kill(pid, ticks)
    assert runner.status(status["job_id"])["state"] == "failed"  # once it is gone, as any dead worker
    lock = _read_lock(runner.root)  # never named the worker: a start in progress for STARTING_TIMEOUT_S, then stale
    assert lock["pid"] is None and runner.active_job() == status["job_id"]
    (runner.root / LOCK_FILE).write_text(json.dumps({**lock, "since": lock["since"] - STARTING_TIMEOUT_S - 1}))
    assert runner.active_job() is None


def test_a_start_failing_before_its_worker_runs_is_failed_and_frees_its_own_lock(runner, tiny_dataset_path, monkeypatch):
    spawned = _spawned(monkeypatch)

    def failing_spawn(*args, **kwargs):
        raise DataFileError("disk full (test)")

    monkeypatch.setattr(runner, "_spawn", failing_spawn)
    with pytest.raises(DataFileError, match="disk full"):
        runner.start(_spec(tiny_dataset_path))
    assert spawned == []
    [status] = runner.list_jobs()
    assert status["state"] == "failed" and status["error"] == "could not start: disk full (test)"
    assert runner.active_job() is None and not (runner.root / LOCK_FILE).exists()


# ---- a worker its runner never named in the lock ---------------------------------------------------
_RELEASE_AS_A_WORKER_ENDS = """
import sys
from pathlib import Path
from geoapp.jobs.worker import _release_own_lock

_release_own_lock(Path(sys.argv[1]))
"""


def test_a_worker_never_named_in_the_lock_frees_the_lock_its_runner_took(runner, tiny_dataset_path, monkeypatch):
    """The process starting the job stops before naming the worker in the lock; the worker, ending, still frees
    that pid-less lock: the runner told it which lock its attempt took."""
    spawned, spawn = [], runner_module.spawn_session

    def recording(command, cwd, env, log):
        proc = spawn([sys.executable, "-c", _RELEASE_AS_A_WORKER_ENDS, str(command[-1])], cwd, env, log)
        spawned.append(proc)
        return proc

    monkeypatch.setattr(runner, "_command", lambda job_dir, workers, resume: [str(job_dir)])
    monkeypatch.setattr(runner_module, "spawn_session", recording)
    monkeypatch.setattr(runner._lock, "record_worker", lambda job_id, pid, since=None: None)  # stopped before naming it
    job = runner.start(_spec(tiny_dataset_path))
    lock = _read_lock(runner.root)
    assert lock["job_id"] == job and lock["pid"] is None
    [proc] = spawned
    assert proc.wait(timeout=120) == 0, runner.log(job)
    assert not (runner.root / LOCK_FILE).exists()


def test_a_start_whose_status_lock_stays_busy_still_frees_its_lock_and_stops_its_worker(
    runner, tiny_dataset_path, monkeypatch, guard_holder
):
    """The pid's write and the 'failed' write both meet a real holder of the job's status.lock."""
    import geoapp.jobs.guard as guard_module
    from geoapp.jobs.status import STATUS_LOCK_FILE

    monkeypatch.setattr(guard_module, "GUARD_TIMEOUT_S", 0.2)
    spawned, spawn, holders = [], runner_module.spawn_session, []

    def spawn_then_hold(command, cwd, env, log):  # another process takes the status lock once the worker runs
        proc = spawn(command, cwd=cwd, env=env, log=log)
        spawned.append((proc.pid, start_ticks(proc.pid)))
        [job_dir] = [p for p in runner.root.iterdir() if p.is_dir()]  # the one job being started
        holders.append(guard_holder(job_dir / STATUS_LOCK_FILE))
        return proc

    monkeypatch.setattr(runner_module, "spawn_session", spawn_then_hold)
    with pytest.raises(GuardTimeoutError) as raised:
        runner.start(_spec(tiny_dataset_path))
    [(pid, ticks)] = spawned
    try:
        assert not process_alive(pid, ticks)  # stopped before the failure was reported
        assert any("could not be marked failed" in note for note in raised.value.__notes__)
        assert not (runner.root / LOCK_FILE).exists()  # its lock freed all the same: the next start is not refused
    finally:
        holders[0].let_go()
        _kill(pid, ticks)
