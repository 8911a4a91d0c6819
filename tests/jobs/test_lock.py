"""The workspace lock: created whole, one holder at a time, stale and garbled locks taken over, and a
lock replaced meanwhile never removed."""

from __future__ import annotations

import json
import os
import time

import pytest

from geoapp.jobs.lock import LOCK_FILE, JobBusyError, WorkspaceLock, release_lock
from geoapp.jobs.status import STARTING_TIMEOUT_S


def _lock(root, active=False):
    return WorkspaceLock(root, job_active=lambda job_id: active)


def _read(root):
    return json.loads((root / LOCK_FILE).read_text())


def test_acquire_writes_a_whole_lock_and_a_second_start_is_refused(tmp_path):
    root = tmp_path / "jobs"
    lock = _lock(root)
    lock.acquire("job-a")
    assert _read(root)["job_id"] == "job-a" and _read(root)["pid"] is None
    assert [p.name for p in root.iterdir()] == [LOCK_FILE]  # the temporary file it was linked from is gone
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

    assert WorkspaceLock(tmp_path, replaced_meanwhile).holder() is None
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
