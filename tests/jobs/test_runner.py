"""The job runner: a real worker process trains a tiny model; progress on disk, the lock, cancel,
SIGKILL then resume, and bad specs refused before anything starts."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from geoapp.data.dataset import load_dataset
from geoapp.errors import DataFileError, InputError
from geoapp.jobs.runner import JobBusyError, JobRunner
from geoapp.jobs.spec import JobSpec, default_config
from geoapp.training.checkpoint import list_checkpoints
from geoapp.training.metrics_log import read_metrics

pytestmark = pytest.mark.slow

TINY = {
    "model": "s-ha",
    "test_year": 2016,
    "n_train_years": 3,
    "epochs": 2,
    "batch_size": 16,
    "max_train_examples": 48,
    "device": "cpu",
    "model_overrides": {"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32},
}


@pytest.fixture()
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return JobRunner(tmp_path / "jobs", grace_s=20)


def _spec(tiny_dataset_path, name="tiny", **config) -> JobSpec:
    return JobSpec("yield", name, {**TINY, **config}, dataset=str(tiny_dataset_path))


def _wait_for(pred, runner, job_id, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = runner.status(job_id)
        if pred(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"condition not reached; status {status}; log {runner.log(job_id)}")


def test_start_progress_finish_and_checkpoint_is_listed(runner, tiny_dataset_path, tmp_path):
    job = runner.start(_spec(tiny_dataset_path))
    assert runner.active_job() == job
    status = runner.wait(job, timeout=120)
    assert status["state"] == "finished", runner.log(job)
    assert status["epochs"] == 2 and status["epoch"] == 2 and status["step"] == status["steps"] == 3
    assert status["metrics"]["epoch"] == 2 and status["eta_s"] == 0.0 and status["device"].startswith("CPU")
    assert status["attempts"] == 1 and runner.active_job() is None
    best = tmp_path / "checkpoints" / "user" / "yield" / "tiny" / "best"
    assert status["checkpoint"] == str(best)
    found = [folder for folder, _ in list_checkpoints(tmp_path / "checkpoints")]
    assert best in found  # what the pages' selectors list
    from geoapp.analysis.yield_predictions import yield_checkpoints

    assert best in [f for f, _ in yield_checkpoints(load_dataset(tiny_dataset_path), root=tmp_path / "checkpoints")]
    assert any(line.startswith("epoch epoch=2") for line in runner.log(job))
    assert [j["job_id"] for j in runner.list_jobs()] == [job]


def test_jobs_command_line_lists_and_shows(runner, tiny_dataset_path, monkeypatch, capsys):
    from geoapp.cli import main

    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(runner.root))
    job = runner.start(_spec(tiny_dataset_path, epochs=1))
    runner.wait(job, timeout=120)
    assert main(["jobs", "list"]) == 0
    assert f"{job}  finished" in capsys.readouterr().out
    assert main(["jobs", "show", job]) == 0
    out = capsys.readouterr().out
    assert '"state": "finished"' in out and "finished: best checkpoint" in out
    assert main(["jobs", "cancel", job]) == 2  # nothing to cancel: a clear error, exit status 2
    assert "nothing to cancel" in capsys.readouterr().err


def test_second_start_is_refused_while_one_runs_then_cancel_and_resume(runner, tiny_dataset_path):
    job = runner.start(_spec(tiny_dataset_path, epochs=40, max_train_examples=96))
    with pytest.raises(JobBusyError, match="one training job runs at a time"):
        runner.start(_spec(tiny_dataset_path, name="other"))
    _wait_for(lambda s: s.get("metrics", {}).get("epoch", 0) >= 1, runner, job)
    assert runner.cancel(job)["state"] == "cancelling"
    status = runner.wait(job, timeout=60)
    assert status["state"] == "cancelled" and runner.active_job() is None
    done = [r["epoch"] for r in read_metrics(os.path.join(status["out"], "metrics.jsonl"))]
    assert done and done[-1] < 40
    with pytest.raises(InputError, match="nothing to cancel"):
        runner.cancel(job)
    # a new job may start now; the cancelled one resumes later
    other = runner.start(_spec(tiny_dataset_path, name="other"))
    assert runner.wait(other, timeout=120)["state"] == "finished"


def test_sigkill_mid_epoch_is_failed_and_resume_continues(runner, tiny_dataset_path):
    job = runner.start(_spec(tiny_dataset_path, epochs=6, max_train_examples=96))
    status = _wait_for(lambda s: s.get("metrics", {}).get("epoch", 0) >= 1, runner, job)
    os.killpg(status["pid"], signal.SIGKILL)
    status = _wait_for(lambda s: s["state"] not in ("running", "starting"), runner, job, timeout=30)
    assert status["state"] == "failed" and "stopped without finishing" in status["error"]
    assert runner.active_job() is None  # the dead worker's lock is released
    before = [r["epoch"] for r in read_metrics(os.path.join(status["out"], "metrics.jsonl"))]
    runner.resume(job)
    status = runner.wait(job, timeout=120)
    assert status["state"] == "finished" and status["attempts"] == 2, runner.log(job)
    epochs = [r["epoch"] for r in read_metrics(os.path.join(status["out"], "metrics.jsonl"))]
    assert epochs[: len(before)] == before and sorted(set(epochs)) == [1, 2, 3, 4, 5, 6]
    assert epochs[-1] == 6 and len(epochs) <= 7  # resumed from the last saved epoch, not from scratch
    with pytest.raises(InputError, match="only a failed or cancelled job"):
        runner.resume(job)


def test_stale_lock_of_a_dead_job_is_taken_over(runner, tiny_dataset_path):
    runner.root.mkdir(parents=True)
    (runner.root / "lock.json").write_text(json.dumps({"job_id": "gone", "pid": 999_999, "pid_start": 1, "since": 0}))
    job = runner.start(_spec(tiny_dataset_path, epochs=1))
    assert runner.wait(job, timeout=120)["state"] == "finished"


def test_a_start_in_progress_holds_the_lock_whatever_its_job_status(runner, tiny_dataset_path):
    """Between taking the lock and spawning the worker (no pid yet) the job's status may still read
    'failed' (a resume) or be empty (a start): the lock is not stale then."""
    job_dir = runner.root / "20261122-000000-000001"
    job_dir.mkdir(parents=True)
    (job_dir / "spec.json").write_text(json.dumps(_spec(tiny_dataset_path).to_dict()))
    (job_dir / "status.json").write_text(json.dumps({"state": "failed", "created": 1}))
    (runner.root / "lock.json").write_text(json.dumps({"job_id": job_dir.name, "pid": None, "since": time.time()}))
    assert runner.active_job() == job_dir.name
    with pytest.raises(JobBusyError):
        runner.start(_spec(tiny_dataset_path))


def test_a_job_orphaned_while_starting_is_failed_and_frees_the_lock(runner, tiny_dataset_path):
    job_dir = runner.root / "20261122-000000-000002"
    job_dir.mkdir(parents=True)
    (job_dir / "spec.json").write_text(json.dumps(_spec(tiny_dataset_path).to_dict()))
    (job_dir / "status.json").write_text(json.dumps({"state": "starting", "created": 1, "updated": time.time() - 300}))
    (runner.root / "lock.json").write_text(json.dumps({"job_id": job_dir.name, "pid": None, "since": time.time() - 300}))
    status = runner.status(job_dir.name)
    assert status["state"] == "failed" and "never started" in status["error"]
    assert runner.active_job() is None and not (runner.root / "lock.json").exists()


def test_list_jobs_ignores_folders_that_are_not_jobs(runner, tiny_dataset_path):
    backup = runner.root / "my-backup"
    backup.mkdir(parents=True)
    (backup / "spec.json").write_text(json.dumps(_spec(tiny_dataset_path).to_dict()))
    assert runner.list_jobs() == []


def test_relative_folders_are_made_absolute(tmp_path, monkeypatch):
    from geoapp.paths import checkpoint_dir, jobs_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEOAPP_JOBS_DIR", "rel/jobs")
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", "rel/ck")
    assert jobs_dir() == tmp_path / "rel" / "jobs" and checkpoint_dir() == tmp_path / "rel" / "ck"
    assert JobRunner("x").root == tmp_path / "x" and JobRunner().root == tmp_path / "rel" / "jobs"


def test_bad_specs_are_refused_before_anything_starts(runner, tiny_dataset_path, tmp_path, monkeypatch):
    with pytest.raises(InputError, match="run name"):
        _spec(tiny_dataset_path, name="../escape")
    with pytest.raises(InputError, match="lr must be (a finite )?positive"):
        _spec(tiny_dataset_path, lr=-1.0)
    with pytest.raises(InputError, match="epochz"):
        _spec(tiny_dataset_path, epochz=3)
    with pytest.raises(InputError, match="workers"):
        JobSpec("yield", "x", TINY, workers=0)
    with pytest.raises(InputError, match="unknown job kind"):
        JobSpec("weather", "x", {})
    with pytest.raises(InputError, match="dataset.json"):
        JobSpec("yield", "x", TINY, dataset=str(tmp_path))
    assert default_config("location")["sh_degree"] == 20 and default_config("yield")["model"] == "semi-ha"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("GEOAPP_CHECKPOINT_DIR", str(blocker))
    with pytest.raises(DataFileError, match="cannot write checkpoints"):
        runner.start(_spec(tiny_dataset_path))
    assert runner.active_job() is None and runner.list_jobs() == []


def test_existing_run_name_is_refused(runner, tiny_dataset_path, tmp_path):
    (tmp_path / "checkpoints" / "user" / "yield" / "taken").mkdir(parents=True)
    (tmp_path / "checkpoints" / "user" / "yield" / "taken" / "metrics.jsonl").write_text("")
    with pytest.raises(InputError, match="already exists"):
        runner.start(_spec(tiny_dataset_path, name="taken"))


def test_the_worker_finds_geoapp_installed_not_through_pythonpath(runner, tiny_dataset_path, monkeypatch):
    """The worker's environment is the app's (no repository root added to PYTHONPATH); geoapp is installed."""
    import subprocess
    import sys

    from geoapp.jobs import runner as runner_module
    from geoapp.paths import REPO_ROOT

    monkeypatch.delenv("PYTHONPATH", raising=False)
    started = {}

    def record(command, cwd, env, log):
        started.update(command=command, env=env)
        raise OSError("not started in this test")

    monkeypatch.setattr(runner_module, "spawn_session", record)
    with pytest.raises(OSError, match="not started"):
        runner.start(_spec(tiny_dataset_path))
    assert "PYTHONPATH" not in started["env"] and started["env"]["PYTHONUNBUFFERED"] == "1"
    assert started["command"][:3] == [sys.executable, "-m", "geoapp.jobs.worker"]
    found = subprocess.run(
        [sys.executable, "-c", "import geoapp; print(geoapp.__file__)"],
        cwd="/",
        env=started["env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert found.startswith(str(REPO_ROOT))  # the editable install of this checkout


def test_a_worker_that_cannot_be_started_leaves_a_failed_job(runner, tiny_dataset_path, monkeypatch):
    import subprocess

    def broken_popen(*args, **kwargs):
        raise OSError("no such interpreter")

    monkeypatch.setattr(subprocess, "Popen", broken_popen)
    with pytest.raises(OSError, match="no such interpreter"):
        runner.start(_spec(tiny_dataset_path))
    [status] = runner.list_jobs()
    assert status["state"] == "failed" and "could not start" in status["error"]
    assert runner.active_job() is None


def test_job_ids_and_batch_splits_are_checked(runner, tiny_dataset_path):
    with pytest.raises(InputError, match="is not a job id"):
        runner.status("../../etc")
    with pytest.raises(InputError, match="at least 4"):
        JobSpec("yield", "x", {**TINY, "batch_size": 3}, workers=2, dataset=str(tiny_dataset_path))


def test_kill_of_a_two_worker_torchrun_job_stops_every_rank(runner, tiny_dataset_path):
    from geoapp.jobs.processes import descendants, process_alive

    job = runner.start(
        JobSpec("yield", "ddp", {**TINY, "epochs": 40, "max_train_examples": 96}, workers=2, dataset=str(tiny_dataset_path))
    )
    status = _wait_for(lambda s: s.get("state") == "running" and s.get("world_size") == 2, runner, job, timeout=120)
    ranks = descendants(status["pid"])
    assert len([p for p in ranks if process_alive(p)]) >= 2  # torchrun's two workers (and helpers)
    assert runner.kill(job, timeout=20)
    assert not any(process_alive(p) for p in [status["pid"], *ranks])
    status = runner.status(job)
    assert status["state"] == "failed" and runner.active_job() is None


def test_ranks_that_outlive_their_launcher_keep_the_job_alive_until_killed(runner, tiny_dataset_path):
    from geoapp.jobs.processes import process_alive
    from geoapp.jobs.ranks import rank_processes

    job = runner.start(
        JobSpec(
            "yield",
            "ddp-orphans",
            {**TINY, "epochs": 400, "patience": 400, "max_train_examples": 96},
            workers=2,
            dataset=str(tiny_dataset_path),
        )
    )
    status = _wait_for(lambda s: s.get("state") == "running" and s.get("world_size") == 2, runner, job, timeout=120)
    ranks = rank_processes(runner.root / job)
    assert len(ranks) == 2 and all(process_alive(p, t) for p, t in ranks)
    os.kill(status["pid"], signal.SIGKILL)  # the launcher alone, not its ranks
    deadline = time.time() + 5
    while time.time() < deadline:  # the ranks go on training without their launcher: the job is not dead
        assert runner.status(job)["state"] == "running" and any(process_alive(p, t) for p, t in ranks)
        time.sleep(0.2)
    assert runner.kill(job, timeout=20)
    assert not any(process_alive(p, t) for p, t in ranks)
    assert runner.status(job)["state"] == "failed" and runner.active_job() is None


def test_a_job_whose_rank_failed_shows_that_ranks_error(runner, tiny_dataset_path):
    """A rank other than 0 writes its exception to error-rank-N.txt (torchrun stops rank 0 before it can
    report it); once every process is gone the job is failed with that error, not a generic one."""
    job_dir = runner.root / "20261122-000000-000003"
    job_dir.mkdir(parents=True)
    (job_dir / "spec.json").write_text(json.dumps(_spec(tiny_dataset_path).to_dict()))
    gone = {"pid": 999_999, "pid_start": 1}  # start ticks no process has: never a live process, whatever pid_max is
    (job_dir / "status.json").write_text(json.dumps({"state": "running", **gone, "created": 1, "updated": time.time()}))
    (job_dir / "error-rank-1.txt").write_text("RuntimeError: CUDA out of memory on rank 1")
    status = runner.status(job_dir.name)
    assert status["state"] == "failed" and status["error"].startswith("rank-1 failed: RuntimeError: CUDA out of memory")


def test_a_job_is_not_resumed_into_a_run_folder_another_job_now_holds(runner, tiny_dataset_path):
    """The run folder records its job: resuming an old job must not overwrite the run of a later one of that name."""
    from geoapp.jobs.runner import OWNER_FILE

    job = runner.start(_spec(tiny_dataset_path, epochs=40, max_train_examples=48))
    status = runner.status(job)
    out = status["out"]
    assert open(os.path.join(out, OWNER_FILE)).read() == job
    _wait_for(lambda s: s["state"] == "running", runner, job)
    runner.cancel(job)
    assert runner.wait(job, timeout=60)["state"] == "cancelled"
    with open(os.path.join(out, OWNER_FILE), "w") as f:  # the folder was emptied and a later job took the name
        f.write("20260101-000000-000999")
    with pytest.raises(InputError, match=r"now holds job '20260101-000000-000999'.s run"):
        runner.resume(job)
    assert runner.active_job() is None  # nothing was started, the lock is free
