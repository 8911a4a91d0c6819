"""The workspace lock: created whole, one holder at a time, stale and garbled locks taken over, a lock
replaced meanwhile never removed (nor changed by anyone while another process holds its guard), and a
finished job's lock held until every process of the job has exited."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from geoapp.errors import InputError
from geoapp.jobs import guard
from geoapp.jobs.guard import GuardTimeoutError
from geoapp.jobs.lock import GUARD_FILE, LOCK_FILE, JobBusyError, WorkspaceLock, release_lock
from geoapp.jobs.processes import start_ticks
from geoapp.jobs.ranks import rank_pid_file
from geoapp.jobs.status import STARTING_TIMEOUT_S

STALE = {"job_id": "gone", "pid": 999_999, "pid_start": 1, "since": 0}
"""The lock of a job that is no longer active and whose worker is gone."""


def _lock(root, active=False):
    return WorkspaceLock(root, job_active=lambda job_id: active)


def _read(root):
    return json.loads((root / LOCK_FILE).read_text())


def test_acquire_writes_a_whole_lock_and_a_second_start_is_refused(tmp_path):
    root = tmp_path / "jobs"
    lock = _lock(root)
    lock.acquire("job-a")
    assert _read(root)["job_id"] == "job-a" and _read(root)["pid"] is None
    assert sorted(p.name for p in root.iterdir()) == [GUARD_FILE, LOCK_FILE]  # the temporary linked from is gone
    with pytest.raises(JobBusyError, match=r"job 'job-a' \(\?\) is starting; one training job runs at a time"):
        lock.acquire("job-b")  # a start in progress (no pid yet) holds the lock whatever its job's status
    assert _read(root)["job_id"] == "job-a"


def test_a_live_jobs_lock_names_the_job_and_its_state(tmp_path):
    lock = _lock(tmp_path, active=True)
    lock.acquire("job-a")
    lock.record_worker("job-a", 4242)
    (tmp_path / "job-a").mkdir()
    (tmp_path / "job-a" / "status.json").write_text(json.dumps({"name": "tiny", "state": "running"}))
    assert lock.holder()["pid"] == 4242
    with pytest.raises(JobBusyError, match=r"job 'job-a' \(tiny\) is running"):
        lock.acquire("job-b")


def test_the_lock_of_a_job_no_longer_active_is_stale_and_taken_over(tmp_path):
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps({"job_id": "gone", "pid": 999_999, "since": 0}))
    lock = _lock(tmp_path, active=False)
    assert lock.holder() is None and not (tmp_path / LOCK_FILE).exists()
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps({"job_id": "gone", "pid": 999_999, "since": 0}))
    lock.acquire("new")
    assert _read(tmp_path)["job_id"] == "new"


def test_a_start_without_a_worker_holds_the_lock_only_for_a_while(tmp_path):
    old = time.time() - STARTING_TIMEOUT_S - 1
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps({"job_id": "orphan", "pid": None, "since": old}))
    assert _lock(tmp_path).holder() is None and not (tmp_path / LOCK_FILE).exists()


def test_a_garbled_old_lock_is_removed_and_a_fresh_one_held(tmp_path):
    lock = _lock(tmp_path)
    path = tmp_path / LOCK_FILE
    path.write_text("")  # a crash while the disk was writing it
    assert lock.holder() is not None  # young: a start may be under way
    os.utime(path, (time.time() - 120, time.time() - 120))
    assert lock.holder() is None and not path.exists()


def test_a_lock_replaced_while_it_was_judged_is_kept(tmp_path):
    path = tmp_path / LOCK_FILE
    path.write_text(json.dumps({"job_id": "gone", "pid": 999_999, "since": 0}))

    def replaced_meanwhile(job_id: str) -> bool:
        path.write_text(json.dumps({"job_id": "other", "pid": 1, "since": time.time()}))
        return False

    assert WorkspaceLock(tmp_path, replaced_meanwhile).holder()["job_id"] == "other"  # judged in turn: its pid runs
    assert _read(tmp_path)["job_id"] == "other"


def test_only_the_holder_releases_or_names_its_worker(tmp_path):
    lock = _lock(tmp_path)
    lock.acquire("job-a")
    lock.record_worker("job-b", 77)  # another start's worker: never written into job-a's lock
    assert _read(tmp_path)["pid"] is None
    release_lock(tmp_path, "job-b")
    assert _read(tmp_path)["job_id"] == "job-a"
    lock.release("job-a")
    assert not (tmp_path / LOCK_FILE).exists()
    release_lock(tmp_path, "job-a")  # nothing left to release: no error


def test_a_release_naming_one_start_never_frees_another_starts_lock_of_the_same_job(tmp_path):
    """A job id does not tell a start from its resume: a release that names its lock (the one a start took,
    or the one naming a worker found dead) leaves a later start's lock of the same job alone."""
    lock = _lock(tmp_path)
    taken = lock.acquire("job-a")
    assert taken == _read(tmp_path) and taken["pid"] is None
    lock.release("job-a", pid=None, since=taken["since"] - 1)  # an earlier start's (or a resume's) lock: kept
    lock.release("job-a", pid=4242, pid_start=1)  # a dead worker's: not this one
    assert _read(tmp_path) == taken
    lock.release("job-a", pid=None, since=taken["since"])
    assert not (tmp_path / LOCK_FILE).exists()
    lock.acquire("job-a")
    lock.record_worker("job-a", os.getpid())
    named = _read(tmp_path)
    lock.release("job-a", pid=os.getpid(), pid_start=named["pid_start"] + 1)  # same pid, another process
    lock.release("job-a", pid=None, since=taken["since"])
    assert _read(tmp_path) == named
    release_lock(tmp_path, "job-a", pid=os.getpid(), pid_start=named["pid_start"])
    assert not (tmp_path / LOCK_FILE).exists()
    with pytest.raises(InputError, match=r"told from another by pid, pid_start, since; got job"):
        release_lock(tmp_path, "job-a", job="job-a")


def test_a_stale_lock_is_not_removed_once_a_restart_of_its_own_job_has_replaced_it(tmp_path):
    """Another process resumes the very job while this one judges its old lock stale: the new lock names the
    same job, and only its identity (the file itself, not the job id) tells it from the one judged."""
    path = tmp_path / LOCK_FILE
    path.write_text(json.dumps({**STALE, "job_id": "job-a"}))
    resumed = []

    def resumed_meanwhile(job_id: str) -> bool:
        if not resumed:  # another process takes the stale lock over and resumes job-a
            _lock(tmp_path, active=False).acquire("job-a")
            resumed.append(_read(tmp_path))
        return False

    holder = WorkspaceLock(tmp_path, resumed_meanwhile).holder()
    assert holder == resumed[0] and holder["pid"] is None and holder["since"] > 0  # the resume in progress holds it
    assert _read(tmp_path) == resumed[0]


def test_nothing_changes_the_lock_while_another_process_holds_its_guard(tmp_path, guard_holder, monkeypatch):
    """A start, a take-over, naming a worker and a release all wait for the guard; none slips in between
    another process's look at the lock and its change."""
    monkeypatch.setattr(guard, "GUARD_TIMEOUT_S", 0.0)  # no waiting: the guard is tried once
    path = tmp_path / LOCK_FILE
    path.write_text(json.dumps(STALE))
    before = path.read_bytes()
    other = guard_holder(tmp_path / GUARD_FILE)
    lock = _lock(tmp_path)
    with pytest.raises(GuardTimeoutError, match=r"which guards the workspace lock .*lock.json'"):
        lock.acquire("new")
    with pytest.raises(GuardTimeoutError):
        lock.holder()  # stale, but it cannot be removed now
    with pytest.raises(GuardTimeoutError):
        lock.record_worker("gone", os.getpid())
    release_lock(tmp_path, "gone")  # a worker ending now leaves the lock; it is stale once its processes are gone
    assert path.read_bytes() == before
    other.let_go()
    lock.acquire("new")
    assert _read(tmp_path)["job_id"] == "new"


def _start(root, job_id, go, results) -> None:
    """One start racing others (in a process of its own): records whether it took the lock."""
    go.wait()
    try:
        WorkspaceLock(root, job_active=lambda _: False).acquire(job_id)
        results.put((job_id, "took"))
    except JobBusyError:
        results.put((job_id, "busy"))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        results.put((job_id, repr(exc)))


@pytest.mark.parametrize("round_", range(8))
def test_starts_racing_over_a_stale_lock_leave_exactly_one_holder(tmp_path, round_):
    """Whatever the interleaving, one start takes the stale lock over, the lock names it, the others are refused."""
    ctx = multiprocessing.get_context("fork")
    (tmp_path / LOCK_FILE).write_text(json.dumps(STALE))
    go, results = ctx.Event(), ctx.Queue()
    starts = [ctx.Process(target=_start, args=(tmp_path, f"job-{i}", go, results)) for i in range(4)]
    for start in starts:
        start.start()
    go.set()
    outcome = dict(results.get(timeout=120) for _ in starts)
    for start in starts:
        start.join(timeout=60)
    took = [job_id for job_id, what in outcome.items() if what == "took"]
    assert len(took) == 1 and set(outcome.values()) == {"took", "busy"}, outcome
    assert _read(tmp_path)["job_id"] == took[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [GUARD_FILE, LOCK_FILE]


def test_a_finished_jobs_lock_is_held_until_its_last_rank_has_exited(tmp_path):
    """Rank 0 writes the final status while other ranks (and torchrun) still run: the lock waits for them."""
    job = tmp_path / "job-a"
    job.mkdir()
    (job / "status.json").write_text(json.dumps({"job_id": "job-a", "name": "ddp", "state": "finished"}))
    (tmp_path / LOCK_FILE).write_text(json.dumps({**STALE, "job_id": "job-a"}))  # torchrun's launcher is gone
    rank_pid_file(job, 0).write_text("999999 1\n")  # rank 0 has exited
    rank = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        rank_pid_file(job, 1).write_text(f"{rank.pid} {start_ticks(rank.pid)}\n")
        lock = _lock(tmp_path, active=False)  # the job is finished
        assert lock.holder()["job_id"] == "job-a"
        with pytest.raises(
            JobBusyError, match=rf"job 'job-a' \(ddp\) is finished, but processes of it still run \(pid {rank.pid}\)"
        ):
            lock.acquire("job-b")
        assert _read(tmp_path)["job_id"] == "job-a"
    finally:
        rank.kill()
        rank.wait()
    assert lock.holder() is None and not (tmp_path / LOCK_FILE).exists()  # the last rank is gone: stale
    lock.acquire("job-b")
    assert _read(tmp_path)["job_id"] == "job-b"


def test_a_worker_is_named_only_in_the_lock_its_start_took(tmp_path):
    lock = WorkspaceLock(tmp_path, lambda job_id: True)
    taken = lock.acquire("job-a")
    later = {"job_id": "job-a", "pid": None, "since": taken["since"] + 5.0}  # a later start of the same job took it
    (tmp_path / LOCK_FILE).write_text(json.dumps(later))
    lock.record_worker("job-a", os.getpid(), since=taken["since"])
    assert json.loads((tmp_path / LOCK_FILE).read_text()) == later  # not overwritten with the first start's worker
    (tmp_path / LOCK_FILE).write_text(json.dumps({"job_id": "job-a", "pid": None, "since": taken["since"]}))
    lock.record_worker("job-a", os.getpid(), since=taken["since"])
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()  # its own: named
