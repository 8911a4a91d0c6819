"""The job queue of missing runs: queued once, started one at a time, finished jobs scored into the store."""

from __future__ import annotations

import json

import pytest

from geoapp.data.dataset import load_dataset
from geoapp.experiments.claim import claim_run
from geoapp.experiments.plan import RunSpec, plan_from_dict
from geoapp.experiments.queue import advance, queue_runs, queued_as_job, read_queue
from geoapp.experiments.runner import run_plan
from geoapp.experiments.store import FAILED, OK, ResultStore, make_record, runs_root
from geoapp.training.ridge_trainer import train_ridge
from tests.experiments.conftest import FakeTrainer


class FakeJobs:
    """A job runner with scripted states: starts are recorded, no job is running unless told."""

    def __init__(self) -> None:
        self.started, self.states = [], {}

    def start(self, spec):
        job_id = f"20260101-000000-00000{len(self.started)}"
        self.started.append(spec)
        self.states[job_id] = {"state": "running", "created": 100.0}
        return job_id

    def status(self, job_id):
        return self.states[job_id]

    def active_job(self):
        return next((j for j, s in self.states.items() if s["state"] == "running"), None)


@pytest.fixture()
def ds(tiny_dataset_path, store_env):
    dataset = load_dataset(tiny_dataset_path)
    yield dataset
    dataset.close()


def test_queue_starts_one_job_at_a_time_and_collects_results(ds, tmp_path):
    runs = [RunSpec("s-ha", 2016, 3, 0), RunSpec("s-ha", 2015, 2, 0)]
    queued, refused = queue_runs(runs, ds, "p")
    assert queued == [r.name for r in runs] and refused == []
    assert queue_runs(runs, ds, "p") == ([], [])  # queued once
    jobs, store = FakeJobs(), ResultStore.for_dataset(ds)
    step = advance(ds, store, jobs)
    assert step["started"] == "s-ha-2016-ny3-seed0" and step["waiting"] == 1 and len(jobs.started) == 1
    assert jobs.started[0].name == "exp-s-ha-2016-ny3-seed0" and jobs.started[0].dataset == str(ds.root)
    assert advance(ds, store, jobs)["started"] is None  # still running: nothing else starts

    best = train_ridge(ds, [2012, 2013, 2014], 2015, 2016, tmp_path / "run")  # stands in for the job's checkpoint
    jobs.states["20260101-000000-000000"] = {"state": "finished", "checkpoint": str(best), "created": 100.0, "finished": 160.0}
    step = advance(ds, store, jobs)
    assert step["collected"] == ["s-ha-2016-ny3-seed0"] and step["started"] == "s-ha-2015-ny2-seed0"
    (record,) = store.read()
    assert record["status"] == OK and record["metrics"]["year"] == 2016 and record["seconds"] == 60.0
    assert record["config"]["test_year"] == 2016 and "config" not in record["metrics"]  # the card's, kept once
    assert record["metrics"]["validation"]["year"] == 2015  # scored as the runner scores its runs

    jobs.states["20260101-000000-000001"] = {"state": "failed", "error": "TrainingDiverged: nan", "created": 1.0, "finished": 2.0}
    step = advance(ds, store, jobs)
    assert step["failed"] == ["s-ha-2015-ny2-seed0"] and step["waiting"] == 0 and read_queue(ds.name) == []
    assert store.read()[-1]["status"] == FAILED and "TrainingDiverged: nan" in store.read()[-1]["error"]


def test_a_run_a_job_cannot_train_is_refused_not_queued(ds):
    queued, refused = queue_runs([RunSpec("s-ha", 2016, 3, 0, overrides={"batch_size": 1})], ds, "p")
    assert queued == [] and len(refused) == 1 and refused[0].startswith("s-ha-2016-ny3-seed0-o")


def test_the_queue_passes_over_a_run_a_runner_trains_and_drops_one_it_finished(ds):
    runs = [RunSpec("s-ha", 2016, 3, 0), RunSpec("s-ha", 2015, 2, 0), RunSpec("s-ha", 2014, 2, 0)]
    queue_runs(runs, ds, "p")
    store, jobs = ResultStore.for_dataset(ds), FakeJobs()
    info = {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": ds.simulated}
    metrics = {"rmse": 5.0, "r2": 0.5, "n": 10, "year": 2016}
    store.append(make_record(runs[0], dataset=info, status=OK, plan="p", metrics=metrics))  # a runner finished it
    with claim_run(runs_root(ds.name), runs[1].name):  # a runner trains this one now
        step = advance(ds, store, jobs)
    assert step["elsewhere"] == ["s-ha-2016-ny3-seed0"] and step["started"] == "s-ha-2014-ny2-seed0"
    assert [e["name"] for e in read_queue(ds.name)] == ["s-ha-2015-ny2-seed0", "s-ha-2014-ny2-seed0"]
    assert len(store.read()) == 1  # nothing recorded for the dropped run: its result is the runner's


def test_a_runner_skips_a_run_the_queue_started_as_a_job_while_it_runs(ds, tmp_path, monkeypatch):
    runs = [RunSpec("ridge", 2016, 2, 0), RunSpec("ridge", 2015, 2, 0)]
    queue_runs(runs, ds, "p")
    jobs = FakeJobs()
    advance(ds, ResultStore.for_dataset(ds), jobs)  # the first starts as a job
    assert queued_as_job(ds.name, runs[0], jobs) and not queued_as_job(ds.name, runs[1], jobs)  # the second still waits
    import geoapp.jobs.runner as job_runner

    monkeypatch.setattr(job_runner.JobRunner, "status", lambda self, job_id: jobs.status(job_id))
    plan = plan_from_dict({"name": "p", "models": ["ridge"], "test_years": [2016, 2015], "n_train_years": [2]})
    trainer, lines = FakeTrainer(), []
    summary = run_plan(plan, ds, train_fn=trainer, echo=lines.append)
    assert trainer.calls == ["ridge-2015-ny2-seed0"] and summary.elsewhere == ["ridge-2016-ny2-seed0"]
    assert "[1/2] ridge-2016-ny2-seed0: skipped, being trained as a job by the Experiments page's queue" in lines

    jobs.states["20260101-000000-000000"] = {"state": "failed", "error": "killed", "created": 1.0}
    assert not queued_as_job(ds.name, runs[0], jobs)  # an ended job trains nothing: a runner may take the run
    again = FakeTrainer()
    run_plan(plan, ds, train_fn=again, echo=lambda _: None)
    assert again.calls == ["ridge-2016-ny2-seed0"]


def test_a_run_is_claimed_while_its_job_starts(ds):
    """A runner that claims the run between the queue's check and the queue file naming the job must not train it."""
    queue_runs([RunSpec("s-ha", 2016, 3, 0)], ds, "p")
    seen = []

    class RunnerCutsIn(FakeJobs):
        def start(self, spec):
            with claim_run(runs_root(ds.name), "s-ha-2016-ny3-seed0") as claim:
                seen.append(claim.held)
            return super().start(spec)

    assert advance(ds, ResultStore.for_dataset(ds), RunnerCutsIn())["started"] == "s-ha-2016-ny3-seed0"
    assert seen == [False]
    assert read_queue(ds.name)[0]["job_id"] == "20260101-000000-000000"


def test_a_store_that_cannot_be_read_does_not_stop_the_queue(ds):
    queue_runs([RunSpec("s-ha", 2016, 3, 0)], ds, "p")
    store = ResultStore.for_dataset(ds)
    other = {"name": ds.name, "fingerprint": "another-build", "simulated": True}
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(json.dumps(make_record(RunSpec("s-ha", 2015, 2, 0), dataset=other, status=FAILED, error="x")) + "\n")
    jobs = FakeJobs()
    assert advance(ds, store, jobs)["started"] == "s-ha-2016-ny3-seed0" and len(jobs.started) == 1


def test_a_job_being_cancelled_is_still_running_and_a_lost_job_is_recorded_failed(ds):
    from geoapp.errors import InputError

    runs = [RunSpec("s-ha", 2016, 3, 0), RunSpec("s-ha", 2015, 2, 0)]
    queue_runs(runs, ds, "p")
    jobs, store = FakeJobs(), ResultStore.for_dataset(ds)
    first = advance(ds, store, jobs)["started"]
    job_id = next(iter(jobs.states))
    jobs.states[job_id] = {"state": "cancelling", "created": 100.0}  # Cancel pressed; its worker still runs
    step = advance(ds, store, jobs)
    assert step["failed"] == [] and step["running"] == first and step["started"] is None
    assert queued_as_job(ds.name, runs[0], jobs)  # a runner keeps its hands off it meanwhile

    def gone(job_id):
        raise InputError(f"no training job {job_id}")

    jobs.status = gone  # its job folder was deleted
    step = advance(ds, store, jobs)
    assert step["failed"] == [first] and "no training job" in store.read()[-1]["error"]
    assert step["started"] == runs[1].name  # the queue moves on


def test_only_one_process_moves_the_queue_on_at_a_time(ds):
    """The page and the keeper at once: the second finds the queue busy and changes nothing."""
    from geoapp.experiments.queue import _locked

    queue_runs([RunSpec("s-ha", 2016, 3, 0)], ds, "p")
    jobs, store = FakeJobs(), ResultStore.for_dataset(ds)
    with _locked(ds.name) as held:  # another process is scoring a finished job now
        assert held
        step = advance(ds, store, jobs)
        assert step == {"collected": [], "failed": [], "elsewhere": [], "started": None, "waiting": 1, "running": None}
        assert jobs.started == []
    assert advance(ds, store, jobs)["started"] == "s-ha-2016-ny3-seed0"  # free again


def test_a_busy_status_or_workspace_lock_is_waited_out_not_recorded_as_a_failure(ds):
    from geoapp.jobs.guard import GuardTimeoutError

    class BusyJobs(FakeJobs):
        busy = True

        def _check(self):
            if self.busy:
                raise GuardTimeoutError("'lock.guard' held by another process (test)")

        def status(self, job_id):
            self._check()
            return super().status(job_id)

        def active_job(self):
            self._check()
            return super().active_job()

        def start(self, spec):
            self._check()
            return super().start(spec)

    runs = [RunSpec("s-ha", 2016, 3, 0)]
    queue_runs(runs, ds, "p")
    store, jobs = ResultStore.for_dataset(ds), BusyJobs()
    step = advance(ds, store, jobs)  # the workspace lock is busy: nothing starts, nothing fails
    assert step["started"] is None and step["failed"] == [] and step["waiting"] == 1 and jobs.started == []
    jobs.busy = False
    assert advance(ds, store, jobs)["started"] == "s-ha-2016-ny3-seed0"
    jobs.busy = True
    step = advance(ds, store, jobs)  # its status is busy: the job is kept, not recorded as lost
    assert step["failed"] == [] and [e["name"] for e in read_queue(ds.name)] == ["s-ha-2016-ny3-seed0"]
    assert store.read() == []


def test_a_queued_job_whose_status_is_busy_still_counts_as_training_it(ds):
    """A runner must not train a run the queue's job trains just because that job's status lock is busy."""
    from geoapp.jobs.guard import GuardTimeoutError

    runs = [RunSpec("ridge", 2016, 2, 0)]
    queue_runs(runs, ds, "p")
    jobs = FakeJobs()
    advance(ds, ResultStore.for_dataset(ds), jobs)  # started as a job

    def busy(job_id):
        raise GuardTimeoutError("'status.lock' held by another process (test)")

    jobs.status = busy
    assert queued_as_job(ds.name, runs[0], jobs)
