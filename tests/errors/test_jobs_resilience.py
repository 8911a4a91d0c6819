"""One bad job never takes down the job list: damaged status files, an unwritable jobs folder, and a
lock that holds while its worker lives even when the job's folder is deleted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geoapp.errors import DataFileError, InputError
from geoapp.jobs.lock import LOCK_FILE, JobBusyError
from geoapp.jobs.processes import find_process, kill_process_trees
from geoapp.jobs.runner import JobRunner
from geoapp.jobs.spec import JobSpec
from geoapp.jobs.status import BROKEN, load_status, read_status, write_status
from geoapp.paths import REPO_ROOT
from tests.app.conftest import app_env  # noqa: F401 - the Training page's data folder

GOOD, BAD = "20260101-000000-000001", "20260102-000000-000002"
GARBAGE = {
    "a JSON list": (b"[]", r"holds a JSON list, expected an object"),
    "pid not a number": (b'{"job_id": "x", "state": "running", "pid": "abc"}', r"field 'pid' is 'abc', expected int"),
    "truncated JSON": (b'{"job_id": "x", "state": "runn', r"not valid JSON .*truncated"),
    "binary": (b"\x89PNG\x00\xff\xfe garbage", r"not text"),
    "unknown state": (b'{"state": "exploded"}', r"field 'state' is 'exploded'"),
    "no state": (b'{"job_id": "x", "pid": 12}', r"lacks 'state'"),
}
TINY = {
    "model": "s-ha",
    "test_year": 2016,
    "n_train_years": 3,
    "epochs": 1,
    "batch_size": 16,
    "max_train_examples": 16,
    "device": "cpu",
    "model_overrides": {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32},
}


def _job(root: Path, job_id: str, status: bytes | dict, name: str = "run") -> Path:
    folder = root / job_id
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"kind": "yield", "name": name, "config": {}}))
    data = status if isinstance(status, bytes) else json.dumps(status).encode()
    (folder / "status.json").write_bytes(data)
    return folder


@pytest.fixture()
def jobs(tmp_path, monkeypatch) -> Path:
    """A jobs folder with a finished job and a job whose status is replaced per test."""
    root = tmp_path / "jobs"
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(root))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    _job(
        root,
        GOOD,
        {"job_id": GOOD, "state": "finished", "kind": "yield", "name": "good", "created": 1.0e9, "epochs": 1},
        name="good",
    )
    return root


# ---- status files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(GARBAGE))
def test_a_damaged_status_is_read_as_broken_with_its_reason(jobs, kind):
    data, reason = GARBAGE[kind]
    folder = _job(jobs, BAD, data, name="victim")
    with pytest.raises(DataFileError, match=reason):
        load_status(folder)
    status = read_status(folder)
    assert status["state"] == BROKEN and status["name"] == "victim" and status["kind"] == "yield"
    assert "status.json" in status["error"]


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_list_show_resume_and_cancel_with_a_damaged_status(jobs, kind):
    _job(jobs, BAD, GARBAGE[kind][0])
    runner = JobRunner()
    listed = {s["job_id"]: s for s in runner.list_jobs()}
    assert listed[GOOD]["state"] == "finished" and listed[BAD]["state"] == BROKEN
    assert runner.status(BAD)["state"] == BROKEN
    with pytest.raises(DataFileError, match=rf"job '{BAD}' cannot be resumed: .*status\.json"):
        runner.resume(BAD)
    with pytest.raises(DataFileError, match=rf"job '{BAD}' cannot be cancelled"):
        runner.cancel(BAD)
    assert not (jobs / LOCK_FILE).exists()  # nothing was started


def test_jobs_commands_with_a_damaged_status(jobs, capsys):
    from geoapp.cli import main

    _job(jobs, BAD, b"[]")
    assert main(["jobs", "list"]) == 0
    out = capsys.readouterr().out
    assert GOOD in out and BAD in out and BROKEN in out
    assert main(["jobs", "show", BAD]) == 0
    assert "holds a JSON list" in capsys.readouterr().out
    assert main(["jobs", "resume", BAD]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: job '{BAD}' cannot be resumed")
    assert main(["jobs", "cancel", BAD]) == 2
    assert capsys.readouterr().err.startswith(f"error: job '{BAD}' cannot be cancelled")


def test_a_write_over_a_damaged_status_leaves_a_readable_one(jobs):
    folder = _job(jobs, BAD, b'{"job_id": "x", "pid": "abc", "name": "kept"}', name="kept")
    write_status(folder, state="failed")
    assert load_status(folder)["state"] == "failed" and load_status(folder)["name"] == "kept"


def test_training_page_lists_a_broken_job_and_keeps_the_others(jobs, app_env):  # noqa: F811
    _job(jobs, BAD, b'{"pid": "abc"}', name="victim")
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "training.py"), default_timeout=60).run()
    assert not at.exception
    history = at.dataframe[-1].value
    assert set(history["job"]) == {GOOD, BAD}
    assert dict(zip(history["job"], history["state"], strict=True))[BAD] == BROKEN
    at.selectbox(key="train_show").select(BAD).run()
    assert not at.exception
    assert any("cannot be watched, resumed or cancelled" in e.value and "'pid'" in e.value for e in at.error)


# ---- an unwritable jobs folder ------------------------------------------------------------------
def _spec(tiny_dataset_path, name="tiny") -> JobSpec:
    return JobSpec("yield", name, dict(TINY), dataset=str(tiny_dataset_path))


def test_an_unwritable_jobs_folder_is_refused_before_anything_starts(tmp_path, tiny_dataset_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    (tmp_path / "a_file").write_text("")
    runner = JobRunner(tmp_path / "a_file" / "jobs")  # cannot be created: its parent is a file
    with pytest.raises(DataFileError, match=r"cannot write to the jobs folder .*set GEOAPP_JOBS_DIR to a writable folder"):
        runner.start(_spec(tiny_dataset_path))
    assert not (tmp_path / "checkpoints").exists()


def test_a_read_only_jobs_folder_permission_error(tmp_path, tiny_dataset_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    root = tmp_path / "jobs"
    root.mkdir()
    real_write = Path.write_text

    def read_only(self, *args, **kwargs):
        if self.parent == root:
            raise PermissionError(13, "Permission denied", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only)
    with pytest.raises(DataFileError, match=r"cannot write to the jobs folder .*Permission denied.*GEOAPP_JOBS_DIR"):
        JobRunner(root).start(_spec(tiny_dataset_path))
    assert list(root.iterdir()) == []  # no lock, no job folder


def test_training_page_shows_an_unwritable_jobs_folder_as_an_error_box(app_env, tmp_path, monkeypatch):  # noqa: F811
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "a_file" / "jobs"))
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "training.py"), default_timeout=60).run()
    at.number_input(key="ty_n_years").set_value(3)
    [submit] = [b for b in at.button if b.label == "Start training"]
    at = submit.click().run()
    assert not at.exception
    assert any("cannot write to the jobs folder" in e.value and "GEOAPP_JOBS_DIR" in e.value for e in at.error), [
        e.value for e in at.error
    ]


# ---- the lock holds while the worker lives ----------------------------------------------------------
def test_a_deleted_job_folder_does_not_free_the_lock_while_its_worker_runs(tmp_path, tiny_dataset_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    runner = JobRunner(tmp_path / "jobs")
    stand_in = [sys.executable, "-c", "import time; time.sleep(60)"]  # a worker that trains for a minute
    monkeypatch.setattr(runner, "_command", lambda job_dir, workers, resume: stand_in)
    first = runner.start(_spec(tiny_dataset_path, "first"))
    pid = json.loads((runner.root / LOCK_FILE).read_text())["pid"]
    try:
        shutil.rmtree(runner.root / first)  # the user deletes the job's folder; its worker runs on
        with pytest.raises(
            JobBusyError, match=rf"job '{first}' holds the lock: its folder .* is gone but its worker \(pid {pid}\)"
        ):
            runner.start(_spec(tiny_dataset_path, "second"))
        assert runner.active_job() == first
    finally:
        proc = find_process(pid)
        if proc is not None:
            kill_process_trees([proc], 5.0)
    deadline = time.time() + 5
    while runner.active_job() is not None and time.time() < deadline:
        time.sleep(0.05)
    assert runner.active_job() is None  # the worker is gone: the lock is stale and a new job may start


def test_a_lock_naming_a_live_process_holds_and_a_dead_one_does_not(tmp_path):
    from geoapp.jobs.lock import WorkspaceLock
    from geoapp.jobs.processes import start_ticks

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock = WorkspaceLock(tmp_path, job_active=lambda job_id: False)
        (tmp_path / LOCK_FILE).write_text(
            json.dumps({"job_id": "gone", "pid": proc.pid, "pid_start": start_ticks(proc.pid), "since": 0})
        )
        assert lock.holder()["pid"] == proc.pid
        (tmp_path / LOCK_FILE).write_text(
            json.dumps({"job_id": "gone", "pid": proc.pid, "pid_start": start_ticks(proc.pid) + 1, "since": 0})
        )
        assert lock.holder() is None  # same pid, another start time: another process
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("content", [b"[]", b"\xff\xfe", b'{"job_id": "x", "since": "abc"}'])
def test_a_garbled_lock_never_raises(tmp_path, content):
    from geoapp.jobs.lock import WorkspaceLock

    path = tmp_path / LOCK_FILE
    path.write_bytes(content)
    lock = WorkspaceLock(tmp_path, job_active=lambda job_id: False)
    assert lock.holder() is not None  # young: a start may be under way
    import os

    os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert lock.holder() is None and not path.exists()


def test_a_status_without_kind_or_name_is_listed_with_the_specs(jobs, capsys):
    from geoapp.cli import main

    _job(jobs, BAD, {"state": "failed"}, name="from-spec")
    listed = {s["job_id"]: s for s in JobRunner().list_jobs()}
    assert listed[BAD]["kind"] == "yield" and listed[BAD]["name"] == "from-spec"
    assert main(["jobs", "list"]) == 0
    assert "from-spec" in capsys.readouterr().out


# ---- the run folder a status names, a missing status, a jobs folder that is a file ---------------
def test_resume_refuses_a_status_that_points_the_run_elsewhere(jobs, tmp_path):
    _job(jobs, BAD, {"job_id": BAD, "state": "failed", "kind": "yield", "name": "run", "out": str(tmp_path / "etc")})
    with pytest.raises(InputError, match=r"names the run folder .*etc'.* writes only to .*checkpoints/user/yield/run'"):
        JobRunner().resume(BAD)
    assert not (tmp_path / "etc").exists() and not (jobs / LOCK_FILE).exists()
    spec = JobSpec("yield", "run", {})
    root = tmp_path / "checkpoints"
    assert spec.check_run_folder(root / "user" / "yield" / "run", root).name == "run"
    elsewhere = tmp_path / "elsewhere" / "user" / "yield" / "run"  # the right tail under another folder
    for other in ("/etc", "relative/user/yield/run", str(root / "user" / "yield" / "run" / ".." / "run"), str(elsewhere)):
        with pytest.raises(InputError, match="the job folder is damaged"):
            spec.check_run_folder(other, root)


def test_a_job_whose_status_file_is_gone_is_listed_as_broken(jobs):
    folder = _job(jobs, BAD, {"state": "finished"}, name="lost")
    (folder / "status.json").unlink()
    old = time.time() - 3600
    os.utime(folder / "spec.json", (old, old))
    runner = JobRunner()
    listed = {s["job_id"]: s for s in runner.list_jobs()}
    assert listed[BAD]["state"] == BROKEN and "status file" in listed[BAD]["error"] and listed[BAD]["name"] == "lost"
    with pytest.raises(DataFileError, match="cannot be resumed: .*is missing"):
        runner.resume(BAD)


def test_a_jobs_folder_that_is_a_file_is_an_error(tmp_path, monkeypatch, capsys):
    from geoapp.cli import main

    (tmp_path / "jobsfile").write_text("not a folder")
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobsfile"))
    assert main(["jobs", "list"]) == 2
    assert "is a file; set GEOAPP_JOBS_DIR to a folder" in capsys.readouterr().err


def test_a_job_folder_without_its_spec_is_listed_as_broken(jobs):
    folder = jobs / BAD
    folder.mkdir()
    assert [s["job_id"] for s in JobRunner().list_jobs()] == [GOOD]  # just created: not listed yet
    old = time.time() - 3600
    os.utime(folder, (old, old))
    listed = {s["job_id"]: s for s in JobRunner().list_jobs()}
    assert listed[BAD]["state"] == BROKEN and "spec file" in listed[BAD]["error"]
    assert listed[GOOD]["state"] == "finished"


def test_a_run_folder_reached_through_a_symlink_is_refused(tmp_path):
    root = tmp_path / "checkpoints"
    (root / "user" / "yield").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    (root / "user" / "yield" / "run").symlink_to(victim)
    with pytest.raises(InputError, match="the job folder is damaged"):
        JobSpec("yield", "run", {}).check_run_folder(root / "user" / "yield" / "run", root)


def test_a_worker_stopped_by_a_geoapp_error_logs_its_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    from geoapp.jobs.worker import run_job

    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    job = tmp_path / "jobs" / BAD
    job.mkdir(parents=True)
    spec = {"kind": "yield", "name": "run", "config": {}, "dataset": str(tmp_path / "no_such_dataset")}
    (job / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "checkpoints" / "user" / "yield" / "run"
    write_status(job, job_id=BAD, state="starting", kind="yield", name="run", out=str(out), pid=os.getpid())
    assert run_job(job) == 1
    printed = capsys.readouterr()
    assert "error: dataset folder" in printed.out and "Traceback" not in printed.out + printed.err
    assert load_status(job)["state"] == "failed"
