"""A job's status written by several processes at once: every writer's update is kept (the read-merge-write
runs under the job's status.lock), a reader never sees half a file, and a writer waits for the lock."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from geoapp.jobs import guard, status
from geoapp.jobs.guard import GuardTimeoutError
from geoapp.jobs.status import STATUS_FILE, STATUS_LOCK_FILE, load_status, write_status, write_status_if

WRITES = 25


def _writer(job_dir, field: str, go) -> None:
    """One writer (in a process of its own): counts ``field`` up, one status write at a time."""
    go.wait()
    for n in range(WRITES):
        write_status(job_dir, **{field: n})


def test_concurrent_writers_lose_no_update_and_readers_never_see_half_a_file(tmp_path):
    """The worker reporting progress, the app recording a state, a keeper...: each writes its own fields."""
    job = tmp_path / "20261122-000000-000001"
    write_status(job, job_id=job.name, state="running")
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    writers = [ctx.Process(target=_writer, args=(job, f"w{i}", go)) for i in range(3)]
    for writer in writers:
        writer.start()
    go.set()
    while any(writer.is_alive() for writer in writers):
        load_status(job)  # raises on a half-written or damaged file
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    final = load_status(job)
    assert {k: final[k] for k in ("w0", "w1", "w2", "state")} == {
        "w0": WRITES - 1,
        "w1": WRITES - 1,
        "w2": WRITES - 1,
        "state": "running",
    }


def test_no_write_slips_in_between_a_writers_read_and_its_write(tmp_path, monkeypatch):
    """While the worker's progress write has read the old status, the app's write must wait for it, then merge."""
    monkeypatch.setattr(guard, "GUARD_TIMEOUT_S", 0.0)  # no waiting: the lock is tried once
    job = tmp_path / "20261122-000000-000001"
    write_status(job, job_id=job.name, state="running", step=1)
    read_raw, refused = status._read_raw, []

    def read_then_another_writer(path):
        found = read_raw(path)
        if path.name == STATUS_FILE and not refused:
            with pytest.raises(GuardTimeoutError, match=r"status.lock', which guards the status of job"):
                write_status(job, state="cancelling")  # the app, in the middle of the worker's write
            refused.append(True)
        return found

    monkeypatch.setattr(status, "_read_raw", read_then_another_writer)
    write_status(job, step=2)  # the worker
    assert refused and load_status(job)["state"] == "running" and load_status(job)["step"] == 2
    write_status(job, state="cancelling")  # the app again, once the worker's write is done
    assert {k: load_status(job)[k] for k in ("state", "step")} == {"state": "cancelling", "step": 2}


def test_a_write_waits_while_another_process_holds_the_jobs_status_lock(tmp_path, guard_holder, monkeypatch):
    monkeypatch.setattr(guard, "GUARD_TIMEOUT_S", 0.0)
    job = tmp_path / "20261122-000000-000001"
    write_status(job, job_id=job.name, state="running")
    before = (job / STATUS_FILE).read_bytes()
    other = guard_holder(job / STATUS_LOCK_FILE)
    with pytest.raises(GuardTimeoutError):
        write_status(job, state="failed")
    assert (job / STATUS_FILE).read_bytes() == before  # nothing written without the lock
    other.let_go()
    assert write_status(job, state="failed")["state"] == "failed"
    assert json.loads((job / STATUS_FILE).read_text())["job_id"] == job.name  # merged into what was there


def test_a_conditional_write_happens_only_while_its_condition_holds_under_the_lock(tmp_path):
    """The runner marks a job it judged dead only if the status is still the one it judged."""
    job = tmp_path / "20261122-000000-000001"
    assert write_status_if(job, lambda current: current == {}, job_id=job.name, state="running", pid=7) == (
        load_status(job),
        True,
    )
    judged = load_status(job)
    write_status(job, state="starting", pid=None)  # another process resumed the job meanwhile
    before = (job / STATUS_FILE).read_bytes()
    status, written = write_status_if(job, lambda current: current.get("pid") == judged["pid"], state="failed")
    assert not written and status["state"] == "starting" and (job / STATUS_FILE).read_bytes() == before
    status, written = write_status_if(job, lambda current: current.get("state") == "starting", state="failed")
    assert written and load_status(job)["state"] == "failed" and load_status(job)["job_id"] == job.name


def test_no_write_slips_in_between_a_conditions_answer_and_the_write(tmp_path, monkeypatch):
    monkeypatch.setattr(guard, "GUARD_TIMEOUT_S", 0.0)
    job = tmp_path / "20261122-000000-000001"
    write_status(job, job_id=job.name, state="running", pid=7)
    refused = []

    def judged_then_another_writer(current):
        with pytest.raises(GuardTimeoutError, match=r"status.lock', which guards the status of job"):
            write_status(job, state="starting", pid=None)  # a resume, while the condition is being answered
        refused.append(True)
        return current.get("pid") == 7

    assert write_status_if(job, judged_then_another_writer, state="failed")[1]
    assert refused and {k: load_status(job)[k] for k in ("state", "pid")} == {"state": "failed", "pid": 7}
