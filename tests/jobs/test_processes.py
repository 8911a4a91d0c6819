"""A job's processes through psutil: start ticks as /proc records them, liveness (zombies and reused
pids are not alive), descendants, and killing whole trees with the process groups they lead."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from geoapp.jobs.processes import (
    descendants,
    find_process,
    kill_process_trees,
    kill_trees,
    process_alive,
    reap_children,
    spawn_session,
    start_ticks,
)


def _wait_until(pred, timeout=30.0):  # generous: CI runs other tests beside it
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    raise AssertionError("condition not reached")


@pytest.fixture()
def session(tmp_path):
    """Start a shell in a session of its own (as the runner starts a worker); kill what is left after the test."""
    started: list[subprocess.Popen] = []

    def start(script: str) -> subprocess.Popen:
        with open(tmp_path / "log.txt", "a", encoding="utf-8") as log:
            proc = spawn_session(["/bin/sh", "-c", script], cwd=tmp_path, env=dict(os.environ), log=log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        root = find_process(proc.pid)
        if root is not None:
            kill_process_trees([root], timeout=5)
        proc.wait(timeout=5)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc records the start ticks")
def test_start_ticks_are_the_kernels_own_record():
    """status.json and the ranks' pid files hold the value of /proc/<pid>/stat (field 22), as before."""
    recorded = int(Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert start_ticks(os.getpid()) == recorded
    assert start_ticks(os.getppid()) is not None


def test_liveness_checks_the_start_ticks():
    me = os.getpid()
    assert process_alive(me) and process_alive(me, start_ticks(me))
    assert find_process(me, start_ticks(me)).pid == me
    assert not process_alive(me, start_ticks(me) + 1)  # the same pid started at another time: another process
    assert not process_alive(None) and not process_alive(0)
    assert start_ticks(-5) is None and not process_alive(-5)


def test_an_exited_process_is_not_alive_even_as_a_zombie():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    _wait_until(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE)  # exited, not reaped yet
    assert not process_alive(proc.pid) and find_process(proc.pid) is None
    proc.wait()
    assert not process_alive(proc.pid) and start_ticks(proc.pid) is None


def test_spawned_workers_run_in_a_session_of_their_own_and_are_reaped(session):
    proc = session("exit 0")
    assert os.getpgid(proc.pid) == proc.pid and os.getsid(proc.pid) == proc.pid
    _wait_until(lambda: reap_children() is None and proc.returncode is not None)
    assert not psutil.pid_exists(proc.pid)  # collected, not a zombie


def test_kill_reaches_every_descendant(session):
    proc = session("sleep 60 & sleep 60 & wait")
    _wait_until(lambda: len(descendants(proc.pid)) == 2)
    below = descendants(proc.pid)
    assert all(process_alive(p) for p in below)
    assert kill_process_trees([find_process(proc.pid)], timeout=10)
    assert not any(process_alive(p) for p in [proc.pid, *below])
    assert descendants(proc.pid) == []


def test_kill_reaches_members_of_the_group_that_left_the_tree(session):
    """A grandchild whose parent exited is no descendant any more, but still in the worker's group."""
    proc = session("(sleep 60 &); sleep 60")

    def orphans() -> list[int]:
        out = []
        for p in psutil.process_iter():
            try:
                if os.getpgid(p.pid) == proc.pid and p.pid != proc.pid and p.pid not in descendants(proc.pid):
                    out.append(p.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        return out

    _wait_until(lambda: len(orphans()) == 1 and len(descendants(proc.pid)) == 1)
    [orphan] = orphans()
    assert kill_process_trees([find_process(proc.pid)], timeout=10)
    _wait_until(lambda: not process_alive(orphan))


def test_kill_names_the_processes_that_outlive_it(session, monkeypatch):
    """A process SIGKILL does not end (stuck in the kernel, another user's) is named, as is one below it."""
    proc = session("sleep 60 & wait")
    _wait_until(lambda: len(descendants(proc.pid)) == 1)
    [child] = descendants(proc.pid)
    monkeypatch.setattr(os, "killpg", lambda pid, sig: None)  # the signals reach nobody
    monkeypatch.setattr(psutil.Process, "kill", lambda self: None)
    assert kill_trees([find_process(proc.pid)], timeout=0) == sorted([proc.pid, child])
    assert not kill_process_trees([find_process(proc.pid)], timeout=0)
    monkeypatch.undo()
    assert kill_trees([find_process(proc.pid)], timeout=10) == []
    assert not any(process_alive(p) for p in [proc.pid, child])


def test_kill_of_nothing_alive_is_done_at_once():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    root = psutil.Process(proc.pid)
    proc.wait()
    assert kill_process_trees([root], timeout=1)


def test_a_child_gets_geoapps_folders_absolute(monkeypatch, tmp_path):
    """A child started from the repository must see the folders this process sees, not the repository's."""
    from geoapp.jobs.processes import child_environment

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEOAPP_JOBS_DIR", "jobs")
    monkeypatch.setenv("GEOAPP_EXPERIMENTS_DIR", "sub/experiments")
    monkeypatch.setenv("GEOAPP_DATA_DIR", "")  # unset in effect: left as it is
    env = child_environment({"PYTHONUNBUFFERED": "1"})
    assert env["GEOAPP_JOBS_DIR"] == str(tmp_path / "jobs")
    assert env["GEOAPP_EXPERIMENTS_DIR"] == str(tmp_path / "sub" / "experiments")
    assert env["GEOAPP_DATA_DIR"] == "" and env["PYTHONUNBUFFERED"] == "1"


def test_a_kill_never_reaches_init_this_process_or_its_parents(monkeypatch, session):
    """A recorded pid gone wrong (a rank adopted by init named its parent) must not kill everything below init."""
    import signal

    from geoapp.jobs import processes

    sent = []  # the kills are recorded, never sent: a regression here must not take the machine down
    monkeypatch.setattr(processes.os, "killpg", lambda pgid, sig: sent.append(("group", pgid)))
    monkeypatch.setattr(psutil.Process, "kill", lambda self: sent.append(("process", self.pid)))
    job = session("sleep 60")  # a real job's process, in a session of its own
    roots = [psutil.Process(1), psutil.Process(), psutil.Process(os.getppid()), psutil.Process(job.pid)]
    processes.kill_trees(roots, timeout=0)
    assert {pid for _, pid in sent} == {job.pid} | {c.pid for c in psutil.Process(job.pid).children(recursive=True)}
    assert ("group", os.getpgrp()) not in sent
    monkeypatch.undo()  # the kills above were only recorded (os is one module for all): end the job for real
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=10)


def test_a_rank_adopted_by_init_records_itself_not_its_new_parent(tmp_path, monkeypatch):
    from geoapp.jobs import worker
    from geoapp.jobs.status import load_status, write_status

    job = tmp_path / "job"
    write_status(job, job_id="job", state="starting")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    monkeypatch.setattr(worker.os, "getppid", lambda: 1)  # torchrun's launcher died: init adopted the rank
    worker._record_own_pid(job)
    assert load_status(job)["pid"] == os.getpid()
    assert not worker._is_torchrun(os.getpid())  # a pytest process is no launcher
